#pragma once
// Qwen3VLTextAttention (`self_attn`): q/k/v projections without bias (one GEMM over their stacked
// weights); q_norm and k_norm, RMSNorms over head_dim shared by all heads, applied per head before
// RoPE (one fused kernel for both on CUDA, kernels/ops/rotary.h; for a decode step's token, part of
// the projection's launch, kernels/ops/gemv.h); GQA with each kv head serving
// H_q / H_kv consecutive query heads; scale head_dim^-0.5; o_proj. The attention itself is the
// KV cache's (cache/kv_cache.h), which stores the rotated keys together with the new tokens'
// retention (log β) when the layer has a gate.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "cache/kv_cache.h"
#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/rms_norm.h"
#include "language/qwen3vl/rotary.h"
#include "language/qwen3vl/text_config.h"

namespace trimvl::qwen3vl {

class TextAttention {
 public:
  TextAttention(const TextConfig& config, const io::WeightLoader::Scope& self_attn, int layer);

  // x: [T, hidden], the layer's normalised input; log_beta: [T, H_kv] from the layer's retention
  // gate, or undefined without one. Returns [T, hidden].
  at::Tensor operator()(const at::Tensor& x, const RotaryTables& rope, cache::KvCache& cache,
                        const at::Tensor& log_beta) const;

 private:
  int layer_;
  int64_t heads_, kv_heads_, head_dim_;
  double scale_;
  at::Tensor qkv_proj_;  // q_proj, k_proj, v_proj weights stacked: [(H_q + 2·H_kv)·D, hidden]
  at::Tensor o_proj_;    // [hidden, H_q·D]
  RmsNorm q_norm_, k_norm_;
  at::Tensor norm_rope_counters_;  // on CUDA, ops::gemv_qk_norm_rope's: int32 [H_q + H_kv], zero between launches
};

}  // namespace trimvl::qwen3vl
