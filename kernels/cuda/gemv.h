#pragma once
// Launchers of the one-token matrix-vector product (gemv.cu): out[n] = T(Σ_k W[n, k] · x[k] (+ bias[n])),
// accumulated in fp32 and rounded once. A decode step's projections are this
// shape (batch 1), bound by reading the weight once; the kernel streams each weight row through one
// warp with many 16-byte loads in flight, so a step's matrix products can approach the copy
// bandwidth (cuBLAS stops near 82% on these shapes, docs/perf.md). Torch-free;
// kernels/ops/gemv.cpp checks tensors and turns the cudaError_t into an Error.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

struct GemvArgs {
  DType dtype = DType::BFloat16;
  int64_t rows = 0;                 // N
  int64_t cols = 0;                 // K, a multiple of the vector width
  const void* weight = nullptr;     // [N, K] row-major
  const void* x = nullptr;          // [K]
  const void* bias = nullptr;       // [N] or null
  void* out = nullptr;              // [N]
};
// weight and x 16-byte aligned.
cudaError_t gemv(const GemvArgs& args, cudaStream_t stream);
// SwiGLU's gate/up projection and activation in one launch: weight is [2·rows, cols], the gate
// rows stacked over the up rows, and out[n] = T(T(silu(g)) · u) with g and u the rows' products
// each rounded to T, as at::linear into a stacked output and then silu(gate) · up store them
// (swiglu.h). Bias must be null.
cudaError_t gemv_silu_mul(const GemvArgs& args, cudaStream_t stream);

// A layer's q/k/v projection of one token (rows = (q_heads + 2 · kv_heads) · head_dim: the q, k and v
// heads in that order) with the q and k heads' RMSNorm and rotary embedding (rotary.h) applied in
// place, each by the CTA that completes the head, so no launch of its own waits on the
// projection's end: out is bit for bit gemv's followed by qk_norm_rope's over its q and k heads.
struct QkvNormRope {
  int q_heads = 0, kv_heads = 0, head_dim = 0;
  float eps = 0.f;
  const void* q_weight = nullptr;  // [head_dim]
  const void* k_weight = nullptr;  // [head_dim]
  const void* cos = nullptr;       // [head_dim], the token's
  const void* sin = nullptr;       // [head_dim]
  int* counters = nullptr;         // [q_heads + kv_heads], zero before a launch and zero after it
};
// Bias must be null; launches sharing counters must not overlap (a layer's own, say).
cudaError_t gemv_qk_norm_rope(const GemvArgs& args, const QkvNormRope& rope, cudaStream_t stream);
// qk_norm_rope_supported (rotary.h), and head_dim a multiple of the 4 rows of a CTA.
bool gemv_qk_norm_rope_supported(DType dtype, int64_t head_dim);

}  // namespace trimvl::cuda
