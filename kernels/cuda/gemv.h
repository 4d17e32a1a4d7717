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

}  // namespace trimvl::cuda
