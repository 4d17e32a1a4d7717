// The retention gate's output head; see gate_head.h. A decode step runs it once per layer on one
// token, where the four ATen launches it replaces cost more than their arithmetic: one CTA per
// token, one warp per kv head, each warp recomputing the (tiny) activation it needs.
//
// silu and log-sigmoid are written as ATen's CUDA kernels write them (fp32 opmath from the stored
// value). Must not be compiled with --use_fast_math. Launched as a dependent of the kernel before
// it (dependent_launch.cuh).
#include <cmath>

#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/gate_head.h"
#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

template <typename T>
__global__ void gate_head_kernel(GateHeadArgs a) {
  constexpr int kVec = Vec<T>::kSize;
  const int64_t row = blockIdx.x;
  const int head = threadIdx.x / 32, lane = threadIdx.x % 32;
  const T* h = static_cast<const T*>(a.hidden) + row * a.width;
  const T* w = static_cast<const T*>(a.weight) + static_cast<int64_t>(head) * a.width;
  wait_for_producers();
  release_dependents();
  float dot = 0.f;
  for (int col = lane * kVec; col < a.width; col += 32 * kVec) {
    float x[kVec], wt[kVec];
    unpack<T>(load16(h + col), x);
    unpack<T>(load16(w + col), wt);
#pragma unroll
    for (int e = 0; e < kVec; ++e) dot = fmaf(round_to<T>(x[e] / (1.f + expf(-x[e]))), wt[e], dot);
  }
#pragma unroll
  for (int o = 16; o > 0; o /= 2) dot += __shfl_xor_sync(0xffffffffu, dot, o);
  if (lane != 0) return;
  const float z = add_as<T>(round_to<T>(dot), to_float(static_cast<const T*>(a.bias)[head]));
  static_cast<T*>(a.out)[row * a.heads + head] = from_float<T>(fminf(0.f, z) - log1pf(expf(-fabsf(z))));
}

}  // namespace

cudaError_t gate_head(const GateHeadArgs& a, cudaStream_t stream) {
  if (a.rows < 0 || a.width <= 0 || a.width % vector_width(a.dtype) != 0 || a.heads < 1 || a.heads > 32 ||
      !a.hidden || !a.weight || !a.bias || !a.out)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  return with_element_type(a.dtype, [&](auto t) {
    return launch_dependent(gate_head_kernel<decltype(t)>, static_cast<unsigned>(a.rows), 32 * a.heads, 0, stream, a);
  });
}

}  // namespace trimvl::cuda
