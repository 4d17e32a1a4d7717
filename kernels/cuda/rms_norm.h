#pragma once
// Launcher of the RMSNorm kernel (rms_norm.cu), optionally fused with the residual add before it.
// Torch-free; kernels/ops/rms_norm.cpp checks tensors and turns the cudaError_t into an Error.
//
// Numerics are those of language/qwen3vl/rms_norm.cpp run by ATen on the device, op for op:
//   v = mean(float(h)²) = (Σ float(h)·float(h)) · mean_factor;  n = T(float(h) · rsqrtf(v + eps));
//   out = T(float(weight) · float(n))
// with h = T(float(x) + float(residual)) when a residual is given, else x. Only the order of the
// fp32 sum differs from ATen's reduction.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dtype.h"

namespace trimvl::cuda {

struct RmsNormArgs {
  DType dtype = DType::BFloat16;
  int64_t rows = 0;
  int dim = 0;                     // a multiple of the 16-byte vector width, see rms_norm_supported
  const void* x = nullptr;         // [rows, dim]
  const void* residual = nullptr;  // [rows, dim], or null
  void* sum = nullptr;             // [rows, dim]: h = T(x + residual); required with a residual
  // x was written before the kernel launched just before this one (with a residual, the stream a
  // pre-norm block read, where that kernel wrote the block's output), so the kernel reads it before
  // its dependent wait (dependent_launch.cuh), off the critical path.
  bool x_settled = false;
  const void* weight = nullptr;    // [dim]
  void* out = nullptr;             // [rows, dim]
  float eps = 0.f;
  // What ATen's CUDA mean multiplies the sum by: float(rows) / float(rows · dim), which is not
  // always the float nearest 1/dim once rows · dim passes 2^24.
  float mean_factor = 0.f;
};
// All pointers 16-byte aligned, rows contiguous.
cudaError_t rms_norm(const RmsNormArgs& args, cudaStream_t stream);
// Rows of `dim` elements of `dtype` are taken when they split into whole 16-byte vectors and one
// block of threads holds a row in registers.
bool rms_norm_supported(DType dtype, int64_t dim);

}  // namespace trimvl::cuda
