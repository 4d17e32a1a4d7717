#include "language/qwen3vl/text_attention.h"

#include <cmath>
#include <utility>

#include <ATen/ATen.h>

#include "kernels/ops/gemv.h"
#include "kernels/ops/rotary.h"

namespace trimvl::qwen3vl {

namespace {

// q_proj, k_proj and v_proj stacked into one [(H_q + 2·H_kv)·D, hidden] weight: one GEMM reads x
// once. The separate weights are not kept. On the CPU the stacked GEMM's outputs are bit-identical
// to the three separate ones (checked on the golden models' and the 4B's shapes, fp32 and bf16;
// the golden fp32 logits still equal transformers' exactly), so every device stacks them.
at::Tensor stacked_qkv(const TextConfig& config, const io::WeightLoader::Scope& self_attn) {
  const int64_t q = config.num_attention_heads * config.head_dim, kv = config.num_key_value_heads * config.head_dim;
  return at::cat({self_attn.scope("q_proj").take("weight", {q, config.hidden_size}),
                  self_attn.scope("k_proj").take("weight", {kv, config.hidden_size}),
                  self_attn.scope("v_proj").take("weight", {kv, config.hidden_size})});
}

}  // namespace

TextAttention::TextAttention(const TextConfig& config, const io::WeightLoader::Scope& self_attn, int layer)
    : layer_(layer),
      heads_(config.num_attention_heads),
      kv_heads_(config.num_key_value_heads),
      head_dim_(config.head_dim),
      scale_(std::pow(static_cast<double>(config.head_dim), -0.5)),
      qkv_proj_(stacked_qkv(config, self_attn)),
      o_proj_(self_attn.scope("o_proj").take("weight", {config.hidden_size, heads_ * head_dim_})),
      q_norm_(self_attn.scope("q_norm"), head_dim_, config.rms_norm_eps),
      k_norm_(self_attn.scope("k_norm"), head_dim_, config.rms_norm_eps) {
  if (qkv_proj_.is_cuda()) norm_rope_counters_ = at::zeros({heads_ + kv_heads_}, qkv_proj_.options().dtype(at::kInt));
}

at::Tensor TextAttention::operator()(const at::Tensor& x, const RotaryTables& rope, cache::KvCache& cache,
                                     const at::Tensor& log_beta) const {
  const int64_t tokens = x.size(0), q_size = heads_ * head_dim_, kv_size = kv_heads_ * head_dim_;
  // q_norm and k_norm share eps (the config's rms_norm_eps).
  at::Tensor q, k, v;
  if (norm_rope_counters_.defined() && ops::gemv_qk_norm_rope_supported(x, qkv_proj_, heads_, kv_heads_,
                                                                        q_norm_.weight(), k_norm_.weight(), rope.cos,
                                                                        rope.sin)) {
    ops::ProjectedQkv p = ops::gemv_qk_norm_rope(x, qkv_proj_, heads_, kv_heads_, q_norm_.weight(), k_norm_.weight(),
                                                 q_norm_.eps(), rope.cos, rope.sin, norm_rope_counters_);
    q = std::move(p.q);
    k = std::move(p.k);
    v = std::move(p.v);
  } else {
    const at::Tensor qkv = ops::linear(x, qkv_proj_);
    // Views of the projection's columns, split per head.
    const at::Tensor q_raw = qkv.narrow(-1, 0, q_size).view({tokens, heads_, head_dim_});
    const at::Tensor k_raw = qkv.narrow(-1, q_size, kv_size).view({tokens, kv_heads_, head_dim_});
    v = qkv.narrow(-1, q_size + kv_size, kv_size).view({tokens, kv_heads_, head_dim_});
    if (ops::qk_norm_rope_supported(q_raw, k_raw, q_norm_.weight(), k_norm_.weight(), rope.cos, rope.sin)) {
      auto rotated = ops::qk_norm_rope(q_raw, k_raw, q_norm_.weight(), k_norm_.weight(), q_norm_.eps(), rope.cos,
                                       rope.sin);
      q = std::move(rotated.q);
      k = std::move(rotated.k);
    } else {
      q = Rotary::apply(q_norm_(q_raw), rope);
      k = Rotary::apply(k_norm_(k_raw), rope);
    }
  }
  const at::Tensor out = cache.attend(layer_, q, k, v, log_beta, scale_);
  return ops::linear(out.reshape({tokens, heads_ * head_dim_}), o_proj_);
}

}  // namespace trimvl::qwen3vl
