#include "language/qwen3vl/text_config.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::qwen3vl {
TextConfig TextConfig::parse(const ConfigObject& c) {
  TextConfig t;
  t.source = c.file();
  t.vocab_size = c.integer("vocab_size", t.vocab_size);
  t.hidden_size = c.integer("hidden_size", t.hidden_size);
  t.intermediate_size = c.integer("intermediate_size", t.intermediate_size);
  t.num_hidden_layers = c.integer("num_hidden_layers", t.num_hidden_layers);
  t.num_attention_heads = c.integer("num_attention_heads", t.num_attention_heads);
  for (auto [key, value] : {std::pair<const char*, int64_t>{"hidden_size", t.hidden_size},
                            {"num_hidden_layers", t.num_hidden_layers}, {"num_attention_heads", t.num_attention_heads},
                            {"intermediate_size", t.intermediate_size}, {"vocab_size", t.vocab_size}})
    c.require_positive(key, value);
  // Absent: the class default; null: what the class falls back to for None.
  if (c.has("num_key_value_heads")) t.num_key_value_heads = c.integer("num_key_value_heads");
  else if (c.contains("num_key_value_heads")) t.num_key_value_heads = t.num_attention_heads;
  c.require_positive("num_key_value_heads", t.num_key_value_heads);
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    throw c.error("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}",
                                                     t.num_key_value_heads, t.num_attention_heads));
  if (c.has("head_dim")) t.head_dim = c.integer("head_dim");
  else if (c.contains("head_dim")) t.head_dim = t.hidden_size / t.num_attention_heads;
  c.require_positive("head_dim", t.head_dim);
  t.hidden_act = c.string("hidden_act", t.hidden_act);
  t.max_position_embeddings = c.integer("max_position_embeddings", t.max_position_embeddings);
  c.require_positive("max_position_embeddings", t.max_position_embeddings);
  t.rms_norm_eps = c.number("rms_norm_eps", t.rms_norm_eps);
  t.tie_word_embeddings = c.boolean("tie_word_embeddings", t.tie_word_embeddings);
  t.attention_bias = c.boolean("attention_bias", t.attention_bias);

  // transformers 5 folds rope_theta and rope_scaling into rope_parameters.
  const auto scaling = c.object("rope_scaling");
  const auto parameters = c.object("rope_parameters");
  const ConfigObject* rope = scaling ? &*scaling : parameters ? &*parameters : nullptr;
  if (!rope)
    throw Error(fmt::format("missing key '{}': Qwen3-VL needs it for the M-RoPE section (transformers 4.57 cannot "
                            "build the model without it; transformers 5 writes rope_parameters)",
                            c.key_path("rope_scaling"))).file(c.file());
  if (c.has("rope_theta")) t.rope_theta = c.number("rope_theta");
  else if (parameters && parameters->has("rope_theta")) t.rope_theta = parameters->number("rope_theta");
  t.rope_type = rope->string("rope_type", rope->string("type", t.rope_type));
  const auto section = rope->integers("mrope_section", t.mrope_section);
  const int64_t sum = std::accumulate(section.begin(), section.end(), int64_t{0});
  if (section.size() != 3 || 2 * sum != t.head_dim || *std::min_element(section.begin(), section.end()) < 0)
    throw rope->error("mrope_section", fmt::format("[{}] must be three counts summing to head_dim / 2 = {}",
                                                   fmt::join(section, ", "), t.head_dim / 2));
  t.mrope_section = section;
  return t;
}

TextConfig TextConfig::load(const std::filesystem::path& config_json) {
  const auto json = read_json_file(config_json);
  const ConfigObject top(json, config_json.string());
  if (const auto type = top.optional_string("model_type"); type && *type != "qwen3_vl")
    throw Error(fmt::format("key 'model_type': '{}' is not a Qwen3-VL config (qwen3_vl)", *type),
                Error::Kind::Unsupported).file(config_json.string());
  const auto text = top.object("text_config");
  if (!text)
    throw Error("missing key 'text_config' (Qwen3-VL's language model sizes and M-RoPE section)")
        .file(config_json.string());
  return parse(*text);
}

}  // namespace trimvl::qwen3vl
