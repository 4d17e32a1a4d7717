#include "tests/language/qwen3vl_tiny_checkpoint.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include "kernels/io/safetensors.h"
#include "tests/support/test_env.h"

namespace trimvl::test {

nlohmann::json tiny_qwen3vl_config() {
  return {{"model_type", "qwen3_vl"},
          {"text_config",
           {{"vocab_size", 97}, {"hidden_size", 24}, {"intermediate_size", 40}, {"num_hidden_layers", 2},
            {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16}, {"rms_norm_eps", 1e-6},
            {"max_position_embeddings", 64}, {"rope_theta", 10000.0}, {"tie_word_embeddings", false},
            {"rope_scaling", {{"rope_type", "default"}, {"mrope_section", {4, 2, 2}}, {"mrope_interleaved", true}}}}},
          {"vision_config", {{"depth", 1}, {"hidden_size", 8}, {"num_heads", 2}, {"out_hidden_size", 24},
                             {"deepstack_visual_indexes", {0}}}}};
}

NamedTensors tiny_qwen3vl_tensors(const nlohmann::json& config, uint64_t seed) {
  const auto& t = config.at("text_config");
  const int64_t hidden = t.at("hidden_size"), inter = t.at("intermediate_size"), heads = t.at("num_attention_heads"),
                kv = t.at("num_key_value_heads"), dim = t.at("head_dim"), vocab = t.at("vocab_size"),
                layers = t.at("num_hidden_layers");
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto weight = [&](std::vector<int64_t> shape) { return at::normal(0.0, 0.1, shape, gen); };
  const auto norm = [&](int64_t n) { return 1 + at::normal(0.0, 0.2, {n}, gen); };
  const std::string lm = "model.language_model.";
  NamedTensors out = {{lm + "embed_tokens.weight", weight({vocab, hidden})}, {lm + "norm.weight", norm(hidden)}};
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = fmt::format("{}layers.{}.", lm, i);
    out.insert(out.end(), {{p + "input_layernorm.weight", norm(hidden)},
                           {p + "self_attn.q_proj.weight", weight({heads * dim, hidden})},
                           {p + "self_attn.k_proj.weight", weight({kv * dim, hidden})},
                           {p + "self_attn.v_proj.weight", weight({kv * dim, hidden})},
                           {p + "self_attn.o_proj.weight", weight({hidden, heads * dim})},
                           {p + "self_attn.q_norm.weight", norm(dim)},
                           {p + "self_attn.k_norm.weight", norm(dim)},
                           {p + "post_attention_layernorm.weight", norm(hidden)},
                           {p + "mlp.gate_proj.weight", weight({inter, hidden})},
                           {p + "mlp.up_proj.weight", weight({inter, hidden})},
                           {p + "mlp.down_proj.weight", weight({hidden, inter})}});
  }
  if (!t.value("tie_word_embeddings", false)) out.emplace_back("lm_head.weight", weight({vocab, hidden}));
  out.emplace_back("model.visual.merger.norm.weight", norm(8));
  return out;
}

void write_tiny_qwen3vl(const std::filesystem::path& dir, const nlohmann::json& config, const NamedTensors& tensors) {
  write_file(dir / "config.json", config.dump(2));
  io::save_safetensors(dir / "model.safetensors", tensors);
}

}  // namespace trimvl::test
