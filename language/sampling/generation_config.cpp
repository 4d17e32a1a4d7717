#include "language/sampling/generation_config.h"

#include <string_view>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl {
namespace {

// GenerationConfig fields that change what HF's generate() produces and that trimvl ignores, with
// the value that leaves them inactive.
struct Ignored {
  std::string_view key;
  nlohmann::json inactive;
};
const Ignored kIgnored[] = {
    {"num_beams", 1}, {"typical_p", 1.0}, {"epsilon_cutoff", 0.0}, {"eta_cutoff", 0.0},
    {"no_repeat_ngram_size", 0}, {"encoder_repetition_penalty", 1.0}, {"bad_words_ids", nullptr},
    {"suppress_tokens", nullptr}, {"begin_suppress_tokens", nullptr}, {"min_length", 0},
    {"min_new_tokens", nullptr}, {"forced_bos_token_id", nullptr}, {"forced_eos_token_id", nullptr},
    {"sequence_bias", nullptr}, {"guidance_scale", nullptr}, {"renormalize_logits", false},
    {"exponential_decay_length_penalty", nullptr}, {"penalty_alpha", nullptr}, {"max_time", nullptr},
};

int32_t token_id(const ConfigObject& c, const nlohmann::json& v, std::string_view key) {
  if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
    throw c.error(key, "expected a token id or a list of token ids, got " + v.dump());
  return static_cast<int32_t>(v.get<int64_t>());
}

}  // namespace

GenerationConfig GenerationConfig::from_file(const std::filesystem::path& path) {
  const nlohmann::json json = read_json_file(path);
  const ConfigObject c(json, path.string());
  GenerationConfig g;
  SamplingParams& s = g.sampling;
  s.do_sample = c.boolean("do_sample", s.do_sample);
  s.temperature = c.number("temperature", s.temperature);
  s.top_k = c.integer("top_k", s.top_k);
  s.top_p = c.number("top_p", s.top_p);
  if (c.has("min_p")) s.min_p = c.number("min_p");
  s.repetition_penalty = c.number("repetition_penalty", s.repetition_penalty);

  StopConditions& stop = g.stop;
  if (c.has("eos_token_id")) {
    const nlohmann::json& v = json.at("eos_token_id");
    if (v.is_array())
      for (const nlohmann::json& id : v) stop.eos_token_ids.push_back(token_id(c, id, "eos_token_id"));
    else
      stop.eos_token_ids.push_back(token_id(c, v, "eos_token_id"));
  }
  if (c.has("stop_strings")) {
    const nlohmann::json& v = json.at("stop_strings");
    for (const nlohmann::json& item : v.is_array() ? v : nlohmann::json::array({v})) {
      if (!item.is_string()) throw c.error("stop_strings", "expected a string or a list of strings, got " + v.dump());
      stop.stop_strings.push_back(item.get<std::string>());
    }
  }
  stop.max_new_tokens = c.optional_integer("max_new_tokens");
  stop.max_length = c.optional_integer("max_length");

  try {
    s.validate();
    stop.validate();
  } catch (Error& e) {
    throw e.file(path.string());
  }
  for (const Ignored& ignored : kIgnored)
    if (c.has(ignored.key) && json.at(std::string(ignored.key)) != ignored.inactive)
      log::warn("{}: '{}' = {} is not supported and is ignored (transformers' generate() would apply it)",
                path.string(), ignored.key, json.at(std::string(ignored.key)).dump());
  return g;
}

}  // namespace trimvl
