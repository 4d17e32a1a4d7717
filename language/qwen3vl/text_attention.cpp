#include "language/qwen3vl/text_attention.h"

#include <cmath>

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

TextAttention::TextAttention(const TextConfig& config, const io::WeightLoader::Scope& self_attn, int layer)
    : layer_(layer),
      heads_(config.num_attention_heads),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      scale_(std::pow(static_cast<double>(config.head_dim), -0.5)),
      q_proj_(self_attn.scope("q_proj").take("weight", {heads_ * head_dim_, config.hidden_size})),
      k_proj_(self_attn.scope("k_proj").take("weight", {kv_heads_ * head_dim_, config.hidden_size})),
      v_proj_(self_attn.scope("v_proj").take("weight", {kv_heads_ * head_dim_, config.hidden_size})),
      o_proj_(self_attn.scope("o_proj").take("weight", {config.hidden_size, heads_ * head_dim_})),
      q_norm_(self_attn.scope("q_norm"), head_dim_, config.rms_norm_eps),
      k_norm_(self_attn.scope("k_norm"), head_dim_, config.rms_norm_eps) {}

at::Tensor TextAttention::operator()(const at::Tensor& x, const RotaryTables& rope, cache::KvCache& cache,
                                     const at::Tensor& log_beta) const {
  const int64_t tokens = x.size(0);
  const at::Tensor q = Rotary::apply(q_norm_(at::linear(x, q_proj_).view({tokens, heads_, head_dim_})), rope);
  const at::Tensor k = Rotary::apply(k_norm_(at::linear(x, k_proj_).view({tokens, kv_heads_, head_dim_})), rope);
  const at::Tensor v = at::linear(x, v_proj_).view({tokens, kv_heads_, head_dim_});
  const at::Tensor out = cache.attend(layer_, q, k, v, log_beta, scale_);
  return at::linear(out.reshape({tokens, heads_ * head_dim_}), o_proj_);
}

}  // namespace trimvl::qwen3vl
