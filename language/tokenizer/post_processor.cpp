#include "language/tokenizer/post_processor.h"

#include <cstdint>
#include <map>
#include <string>

namespace trimvl::tok {

namespace {

class Template final : public PostProcessor {
 public:
  explicit Template(const ConfigNode& node) {
    std::map<std::string, std::vector<int32_t>> specials;
    if (const auto table = node.find("special_tokens")) {
      for (const auto& [name, entry] : table->members()) {
        std::vector<int32_t>& ids = specials[name];
        for (const ConfigNode& id : entry.elements("ids")) {
          const int64_t v = id.as_integer();
          if (v < 0 || v > INT32_MAX) id.fail(fmt::format("token id {} is out of range", v));
          ids.push_back(static_cast<int32_t>(v));
        }
      }
    }
    bool has_sequence = false;
    for (const ConfigNode& piece : node.elements("single")) {
      if (piece.has("Sequence")) {
        const std::string id = piece.at("Sequence").string("id");
        if (id != "A") piece.fail(fmt::format("the single-sequence template refers to sequence '{}'", id));
        parts_.push_back({true, {}});
        has_sequence = true;
      } else if (piece.has("SpecialToken")) {
        const std::string name = piece.at("SpecialToken").string("id");
        const auto it = specials.find(name);
        if (it == specials.end()) piece.fail(fmt::format("special token '{}' is missing from special_tokens", name));
        parts_.push_back({false, it->second});
      } else {
        piece.fail(R"(expected {"Sequence": ...} or {"SpecialToken": ...})");
      }
    }
    if (!has_sequence) node.at("single").fail("the template does not contain the sequence $A");
  }

  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    std::vector<int32_t> out;
    out.reserve(ids.size() + 8);
    for (const Part& part : parts_) {
      if (part.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), part.ids.begin(), part.ids.end());
    }
    ids = std::move(out);
  }

 private:
  struct Part {
    bool is_sequence;
    std::vector<int32_t> ids;
  };
  std::vector<Part> parts_;
};

// ByteLevel's post-processing trims offsets; ids pass through.
class Identity final : public PostProcessor {
 public:
  void process(std::vector<int32_t>&, bool) const override {}
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(const ConfigNode& node) {
    for (const ConfigNode& child : node.elements("processors")) steps_.push_back(from_config(child));
  }
  void process(std::vector<int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& step : steps_) step->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> PostProcessor::from_config(const ConfigNode& node) {
  const std::string type = node.type();
  if (type == "TemplateProcessing") return std::make_unique<Template>(node);
  if (type == "ByteLevel") return std::make_unique<Identity>();
  if (type == "Sequence") return std::make_unique<Sequence>(node);
  node.unsupported(fmt::format("unsupported post-processor type '{}'", type));
}

}  // namespace trimvl::tok
