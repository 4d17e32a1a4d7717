#include "app/eval/sample_record.h"

#include <algorithm>
#include <array>
#include <limits>

#include <fmt/format.h>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

// The record's own fields; every other number is a metric. "key" is the journal's.
constexpr std::array<std::string_view, 16> kOwnFields = {
    "doc_id",    "input",         "target",         "answers", "resps",        "filtered_resps", "kv_policy",
    "kv_budget", "kv_peak_bytes", "kv_kept_tokens", "ttft_s",  "tokens_per_s", "prompt_tokens",  "generated_tokens",
    "trace",     "key",
};

bool own_field(std::string_view name) {
  return std::find(kOwnFields.begin(), kOwnFields.end(), name) != kOwnFields.end();
}

// Typed access to one record's fields, every error naming the field.
class Fields {
 public:
  Fields(const nlohmann::json& json, std::string_view where, std::string_view prefix = "")
      : json_(json), where_(where), prefix_(prefix) {
    if (!json.is_object())
      throw fail("", fmt::format("a sample record must be a JSON object, got {}", json.type_name()));
  }

  const nlohmann::json* find(std::string_view key) const {
    const auto it = json_.find(key);
    return it == json_.end() ? nullptr : &*it;
  }
  const nlohmann::json& at(std::string_view key) const {
    if (const nlohmann::json* v = find(key)) return *v;
    throw fail(key, "is missing");
  }
  int64_t integer(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_number_integer()) throw fail(key, fmt::format("expected an integer, got {}", v.dump()));
    return v.get<int64_t>();
  }
  double number(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (v.is_null()) return std::numeric_limits<double>::quiet_NaN();  // a NaN, as dump() writes it
    if (!v.is_number()) throw fail(key, fmt::format("expected a number, got {}", v.dump()));
    return v.get<double>();
  }
  std::string string(std::string_view key) const {
    const nlohmann::json& v = at(key);
    if (!v.is_string()) throw fail(key, fmt::format("expected a string, got {}", v.dump()));
    return v.get<std::string>();
  }
  std::vector<std::string> strings(std::string_view key) const {
    const nlohmann::json& v = at(key);
    std::vector<std::string> out;
    if (v.is_array())
      for (const nlohmann::json& s : v) {
        if (!s.is_string()) break;
        out.push_back(s.get<std::string>());
      }
    if (!v.is_array() || out.size() != v.size())
      throw fail(key, fmt::format("expected a list of strings, got {}", v.dump()));
    return out;
  }

  Error fail(std::string_view key, std::string_view message) const {
    const std::string field = key.empty() ? std::string() : fmt::format("field '{}{}' ", prefix_, key);
    return Error(where_.empty() ? fmt::format("sample record: {}{}", field, message)
                                : fmt::format("{}: sample record: {}{}", where_, field, message));
  }

 private:
  const nlohmann::json& json_;
  std::string_view where_, prefix_;
};

}  // namespace

nlohmann::json to_json(const SampleRecord& r) {
  nlohmann::json j;
  j["doc_id"] = r.doc_id;
  j["input"] = r.input;
  j["target"] = r.answers.size() == 1 ? r.answers.front()
                : r.answers.empty()   ? std::string()
                                      : nlohmann::json(r.answers).dump();
  j["answers"] = r.answers;
  j["resps"] = nlohmann::json::array({r.response});
  j["filtered_resps"] = r.filtered;
  for (const auto& [name, value] : r.metrics) {
    TRIMVL_CHECK(!own_field(name) && !j.contains(name), "metric name '{}' collides with a sample record field", name);
    j[name] = value;
  }
  j["kv_policy"] = r.config.policy;
  j["kv_budget"] = r.config.budget ? nlohmann::json(*r.config.budget) : nlohmann::json(nullptr);
  j["kv_peak_bytes"] = r.peak_kv_bytes;
  j["kv_kept_tokens"] = {{"text", r.kept_tokens.text},
                         {"image", r.kept_tokens.image},
                         {"video", r.kept_tokens.video},
                         {"generated", r.kept_tokens.generated}};
  j["ttft_s"] = r.ttft_s;
  j["tokens_per_s"] = r.tokens_per_s;
  j["prompt_tokens"] = r.prompt_tokens;
  j["generated_tokens"] = r.generated_tokens;
  if (r.trace) j["trace"] = *r.trace;
  return j;
}

SampleRecord sample_from_json(const nlohmann::json& json, std::string_view where) {
  const Fields f(json, where);
  SampleRecord r;
  r.doc_id = f.integer("doc_id");
  r.input = f.string("input");
  r.answers = f.strings("answers");
  const std::vector<std::string> resps = f.strings("resps");
  if (resps.size() != 1) throw f.fail("resps", fmt::format("expected one response, got {}", resps.size()));
  r.response = resps.front();
  r.filtered = f.string("filtered_resps");
  r.config.policy = f.string("kv_policy");
  if (!f.at("kv_budget").is_null()) r.config.budget = f.integer("kv_budget");
  r.peak_kv_bytes = f.integer("kv_peak_bytes");
  const nlohmann::json& kept = f.at("kv_kept_tokens");
  if (!kept.is_object()) throw f.fail("kv_kept_tokens", fmt::format("expected an object, got {}", kept.dump()));
  const Fields k(kept, where, "kv_kept_tokens.");
  r.kept_tokens = {k.integer("text"), k.integer("image"), k.integer("video"), k.integer("generated")};
  r.ttft_s = f.number("ttft_s");
  r.tokens_per_s = f.number("tokens_per_s");
  r.prompt_tokens = f.integer("prompt_tokens");
  r.generated_tokens = f.integer("generated_tokens");
  if (f.find("trace")) r.trace = f.string("trace");
  for (const auto& [name, value] : json.items())
    if (!own_field(name) && (value.is_number() || value.is_null())) r.metrics.emplace_back(name, f.number(name));
  return r;
}

KvMeans kv_means(std::span<const SampleRecord> samples) {
  if (samples.empty()) return {};
  double bytes = 0, ttft = 0, rate = 0;
  for (const SampleRecord& s : samples) {
    bytes += static_cast<double>(s.peak_kv_bytes);
    ttft += s.ttft_s;
    rate += s.tokens_per_s;
  }
  const auto n = static_cast<double>(samples.size());
  return {bytes / n, ttft / n, rate / n};
}

}  // namespace trimvl::app::eval
