#include "language/tokenizer/normalizer.h"

#include <algorithm>
#include <vector>

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include "language/tokenizer/regex.h"
#include "language/tokenizer/utf8.h"

namespace trimvl::tok {

namespace {

bool is_ascii(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

class UnicodeForm final : public Normalizer {
 public:
  using Getter = const icu::Normalizer2* (*)(UErrorCode&);

  UnicodeForm(Getter getter, const ConfigNode& node) {
    UErrorCode status = U_ZERO_ERROR;
    form_ = getter(status);
    if (U_FAILURE(status)) node.fail(fmt::format("ICU normalizer unavailable: {}", u_errorName(status)),
                                     Error::Kind::Internal);
  }

  void normalize(std::string& text) const override {
    if (is_ascii(text)) return;  // ASCII is invariant under all four forms
    UErrorCode status = U_ZERO_ERROR;
    if (form_->isNormalizedUTF8(text, status) && U_SUCCESS(status)) return;
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out, static_cast<int32_t>(text.size()));
    form_->normalizeUTF8(0, text, sink, nullptr, status);
    if (U_FAILURE(status))
      throw Error(fmt::format("ICU normalization failed: {}", u_errorName(status)), Error::Kind::Internal);
    text = std::move(out);
  }

 private:
  const icu::Normalizer2* form_ = nullptr;
};

// Full lowercase mapping of each character on its own, without context (Rust's
// char::to_lowercase): final sigma stays σ; U+0130 is the only character whose lowercase is two.
class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    std::string out;
    out.reserve(text.size());
    std::size_t i = 0;
    while (i < text.size()) {
      const auto b = static_cast<unsigned char>(text[i]);
      if (b < 0x80) {
        out += static_cast<char>(b >= 'A' && b <= 'Z' ? b + 32 : b);
        ++i;
        continue;
      }
      const char32_t cp = utf8::next(text, i);
      if (cp == 0x130) {
        out += "i\xCC\x87";  // i + COMBINING DOT ABOVE
      } else {
        utf8::append(out, static_cast<char32_t>(u_tolower(static_cast<UChar32>(cp))));
      }
    }
    text = std::move(out);
  }
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}

  void normalize(std::string& text) const override {
    std::size_t begin = 0, end = text.size();
    if (left_) {
      while (begin < end) {
        std::size_t i = begin;
        if (!utf8::is_white_space(utf8::next(text, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t i = end;
        if (!utf8::is_white_space(utf8::prev(text, i))) break;
        end = i;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}

  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::unique_ptr<Regex> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  void normalize(std::string& text) const override {
    std::string out;
    std::size_t copied = 0;
    bool matched = false;
    pattern_->for_each_match(text, [&](std::size_t start, std::size_t end) {
      out.append(text, copied, start - copied);
      out += content_;
      copied = end;
      matched = true;
    });
    if (!matched) return;
    out.append(text, copied);
    text = std::move(out);
  }

 private:
  std::unique_ptr<Regex> pattern_;
  std::string content_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}

  void normalize(std::string& text) const override {
    for (const auto& step : steps_) step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

}  // namespace

std::unique_ptr<Normalizer> Normalizer::from_config(const ConfigNode& node) {
  const std::string type = node.type();
  if (type == "NFC") return std::make_unique<UnicodeForm>(&icu::Normalizer2::getNFCInstance, node);
  if (type == "NFD") return std::make_unique<UnicodeForm>(&icu::Normalizer2::getNFDInstance, node);
  if (type == "NFKC") return std::make_unique<UnicodeForm>(&icu::Normalizer2::getNFKCInstance, node);
  if (type == "NFKD") return std::make_unique<UnicodeForm>(&icu::Normalizer2::getNFKDInstance, node);
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Strip") return std::make_unique<Strip>(node.boolean("strip_left", false), node.boolean("strip_right", false));
  if (type == "Prepend") return std::make_unique<Prepend>(node.string("prepend"));
  if (type == "Replace") return std::make_unique<Replace>(regex_from_config(node.at("pattern")), node.string("content"));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> steps;
    for (const ConfigNode& child : node.elements("normalizers")) steps.push_back(from_config(child));
    return std::make_unique<Sequence>(std::move(steps));
  }
  node.unsupported(fmt::format("unsupported normalizer type '{}'", type));
}

}  // namespace trimvl::tok
