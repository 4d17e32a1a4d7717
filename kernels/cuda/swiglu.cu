// SwiGLU's activation, silu(gate) · up; see swiglu.h. Elementwise and memory-bound: one 16-byte
// piece of gate, up and out per thread and step of a grid-stride loop (silu_mul_as, opmath.cuh).
#include <algorithm>

#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/swiglu.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 16384;  // beyond a few waves of the GPU, threads loop instead

template <typename T>
__global__ void __launch_bounds__(kThreads) silu_mul_kernel(SiluMulArgs a) {
  constexpr int kVec = Vec<T>::kSize;
  const int64_t pieces_per_row = a.width / kVec;
  const int64_t pieces = a.rows * pieces_per_row;
  const T* gate = static_cast<const T*>(a.gate);
  const T* up = static_cast<const T*>(a.up);
  T* out = static_cast<T*>(a.out);
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < pieces;
       i += static_cast<int64_t>(gridDim.x) * kThreads) {
    const int64_t row = i / pieces_per_row, col = (i % pieces_per_row) * kVec;
    float g[kVec], u[kVec];
    unpack<T>(load16(gate + row * a.gate_stride + col), g);
    unpack<T>(load16(up + row * a.up_stride + col), u);
#pragma unroll
    for (int e = 0; e < kVec; ++e) g[e] = silu_mul_as<T>(g[e], u[e]);
    store16(out + row * a.width + col, g);
  }
}

template <typename T>
cudaError_t launch(const SiluMulArgs& a, cudaStream_t stream) {
  const int64_t pieces = a.rows * (a.width / Vec<T>::kSize);
  const int64_t blocks = std::min((pieces + kThreads - 1) / kThreads, kMaxBlocks);
  silu_mul_kernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

cudaError_t silu_mul(const SiluMulArgs& a, cudaStream_t stream) {
  const int width = vector_width(a.dtype);
  if (a.rows < 0 || a.width <= 0 || a.width % width != 0 || !a.gate || !a.up || !a.out ||
      (a.rows > 1 && (a.gate_stride % width != 0 || a.up_stride % width != 0)))
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  return with_element_type(a.dtype, [&](auto t) { return launch<decltype(t)>(a, stream); });
}

}  // namespace trimvl::cuda
