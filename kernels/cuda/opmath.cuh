#pragma once
// Arithmetic the way an ATen elementwise op on a bf16/fp16/fp32 tensor performs it: widen to fp32
// (ATen's "opmath" type), one correctly rounded fp32 operation, round back to the tensor's type.
// Kernels that fuse several ATen ops chain these, so each intermediate is rounded where the
// separate ops would have stored it. The _rn intrinsics are never contracted into an FMA by nvcc,
// which would skip a rounding and change even fp32 results.
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {

// The value of `x` once stored in a tensor of type T.
template <typename T>
__device__ __forceinline__ float round_to(float x) { return to_float(from_float<T>(x)); }

template <typename T>
__device__ __forceinline__ float mul_as(float a, float b) { return round_to<T>(__fmul_rn(a, b)); }

template <typename T>
__device__ __forceinline__ float add_as(float a, float b) { return round_to<T>(__fadd_rn(a, b)); }

// SwiGLU's activation of a stored gate and up value, T(T(silu(g)) · u), as at::silu(gate) * up:
// silu written as ATen's CUDA silu writes it, plain operators included, so that nvcc contracts
// expf's last scaling and the 1 + into one FMA there and here alike. Kernels using it must not be
// compiled with --use_fast_math, which would swap in approximate expf and division.
template <typename T>
__device__ __forceinline__ float silu_mul_as(float g, float u) {
  return mul_as<T>(round_to<T>(g / (1.f + expf(-g))), u);
}

}  // namespace trimvl::cuda
