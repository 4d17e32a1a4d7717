#pragma once
// Launcher of the fused q/k-norm + M-RoPE kernel (rotary.cu). Torch-free; kernels/ops/rotary.cpp
// checks tensors and turns the cudaError_t into an Error.
//
// For each (token t, head) row x of D = head_dim elements, op for op as language/qwen3vl's
// RmsNorm then Rotary::apply compute it on the device in the activation type T:
//   y = rms_norm(x, weight)                              (as kernels/cuda/rms_norm.h)
//   out[i]     = T(T(y[i] · cos[t, i])     + T(−y[i + D/2] · sin[t, i]))           i < D/2
//   out[i+D/2] = T(T(y[i+D/2] · cos[t, i+D/2]) + T(y[i] · sin[t, i+D/2]))
// The queries and the keys of a layer go in one launch, each with its own norm weight.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

// One projection's heads: row (t, h) starts at in + t · token_stride + h · head_dim (a view of a
// fused qkv projection's output, say), and goes to out, contiguous [tokens, heads, head_dim].
struct NormRopeHeads {
  const void* in = nullptr;
  int64_t token_stride = 0;      // elements; a multiple of the vector width
  int heads = 0;
  const void* weight = nullptr;  // [head_dim]
  void* out = nullptr;
  float mean_factor = 0.f;       // as RmsNormArgs::mean_factor, for tokens · heads rows
};

struct QkNormRopeArgs {
  DType dtype = DType::BFloat16;
  int64_t tokens = 0;
  int head_dim = 0;
  float eps = 0.f;
  const void* cos = nullptr;  // [tokens, head_dim]
  const void* sin = nullptr;  // [tokens, head_dim]
  NormRopeHeads q, k;         // k.heads may be 0
};
// All pointers 16-byte aligned.
cudaError_t qk_norm_rope(const QkNormRopeArgs& args, cudaStream_t stream);
// Each half of a head splits into whole 16-byte vectors, one per thread of a group of at most 32.
bool qk_norm_rope_supported(DType dtype, int64_t head_dim);

}  // namespace trimvl::cuda
