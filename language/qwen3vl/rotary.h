#pragma once
// Interleaved M-RoPE (Qwen3VLTextRotaryEmbedding, rope_type "default").
//
// Frequency pair j of a head (j < head_dim / 2) rotates by position[axis(j)] · θ^(-2j / head_dim),
// where the axis is h for j = 1, 4, 7, ... below 3·section[1], w for j = 2, 5, 8, ... below
// 3·section[2], and t for every other pair: the three axes interleave instead of taking
// contiguous blocks. Angles, cos and sin are computed in fp32 and cast to the activation dtype;
// the rotation (x·cos + rotate_half(x)·sin, halves not pairs) runs in that dtype, as in HF.
// For text all three rows are equal and this is plain 1-D RoPE.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "language/qwen3vl/text_config.h"

namespace trimvl::qwen3vl {

// cos and sin for one forward: [T, 1, head_dim], to broadcast over heads of [T, H, head_dim].
struct RotaryTables {
  at::Tensor cos, sin;
};

class Rotary {
 public:
  // Frequencies are computed on the CPU (as HF computes its inv_freq buffer) and kept on `device`.
  Rotary(const TextConfig& config, c10::Device device);

  // position_ids: [3, T] int64 (t, h, w rows) on the rotary's device.
  RotaryTables tables(const at::Tensor& position_ids, c10::ScalarType dtype) const;

  // x: [T, H, head_dim].
  static at::Tensor apply(const at::Tensor& x, const RotaryTables& tables);

 private:
  at::Tensor inv_freq_;  // [head_dim / 2] fp32
  at::Tensor axis_;      // [head_dim / 2] int64: the position row each pair reads
};

}  // namespace trimvl::qwen3vl
