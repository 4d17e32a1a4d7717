// RMSNorm, optionally after the residual add; see rms_norm.h. One block per row: each thread
// keeps its 16-byte pieces of the row in registers between the sum of squares and the scaling,
// so the row is read from memory once (twice with a residual: x and r) and written once or twice.
// Launched as a dependent of the kernel before it (dependent_launch.cuh).
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/rms_norm.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kMaxThreads = 1024;
constexpr int kMaxItems = 4;  // 16-byte pieces per thread

// The sum over the block (a whole number of warps), the same value in every thread: each sums the
// warps' partials itself, in the same order, so all threads scale by one rsqrt.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[kMaxThreads / 32];
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = v;
  __syncthreads();
  float total = 0.f;
  for (int w = 0; w < static_cast<int>(blockDim.x / 32); ++w) total = __fadd_rn(total, partial[w]);
  return total;
}

template <typename T, int kItems>
__global__ void __launch_bounds__(kMaxThreads) rms_norm_kernel(RmsNormArgs a) {
  constexpr int kVec = Vec<T>::kSize;
  const int pieces = a.dim / kVec;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * a.dim;
  const T* x = static_cast<const T*>(a.x) + row;
  // The weight before the wait: no kernel writes it, and in a decode step it is cold (the step
  // streams GBs of weights through L2 between two reads of it), so loaded after the sum it was a
  // second trip to DRAM, behind the next projection's first loads, on every norm's critical path.
  const T* weight = static_cast<const T*>(a.weight);
  uint4 w[kItems];
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int p = threadIdx.x + i * blockDim.x;
    if (p < pieces) w[i] = load16(weight + p * kVec);
  }
  // A settled x before the wait too, through L2 (.cg): an earlier kernel on this SM may have left
  // older lines of it in L1.
  uint4 h[kItems];
  if (a.x_settled) {
#pragma unroll
    for (int i = 0; i < kItems; ++i) {
      const int p = threadIdx.x + i * blockDim.x;
      if (p < pieces) h[i] = __ldcg(reinterpret_cast<const uint4*>(x) + p);
    }
  }
  wait_for_producers();
  release_dependents();
  float squares = 0.f;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int p = threadIdx.x + i * blockDim.x;
    if (p >= pieces) continue;
    if (!a.x_settled) h[i] = load16(x + p * kVec);
    float f[kVec];
    unpack<T>(h[i], f);
    if (a.residual) {
      float r[kVec];
      unpack<T>(load16(static_cast<const T*>(a.residual) + row + p * kVec), r);
#pragma unroll
      for (int e = 0; e < kVec; ++e) f[e] = add_as<T>(f[e], r[e]);
      h[i] = pack<T>(f);
      *reinterpret_cast<uint4*>(static_cast<T*>(a.sum) + row + p * kVec) = h[i];
    }
    // Squares rounded to fp32 before the sum, as ATen's pow(2) stores them for mean().
#pragma unroll
    for (int e = 0; e < kVec; ++e) squares = __fadd_rn(squares, __fmul_rn(f[e], f[e]));
  }
  const float inv_rms = rsqrtf(__fadd_rn(__fmul_rn(block_sum(squares), a.mean_factor), a.eps));

  T* out = static_cast<T*>(a.out) + row;
#pragma unroll
  for (int i = 0; i < kItems; ++i) {
    const int p = threadIdx.x + i * blockDim.x;
    if (p >= pieces) continue;
    float f[kVec], wf[kVec];
    unpack<T>(h[i], f);
    unpack<T>(w[i], wf);
#pragma unroll
    for (int e = 0; e < kVec; ++e) f[e] = mul_as<T>(wf[e], mul_as<T>(f[e], inv_rms));
    store16(out + p * kVec, f);
  }
}

template <typename T>
cudaError_t launch(const RmsNormArgs& a, cudaStream_t stream) {
  const int pieces = a.dim / Vec<T>::kSize;
  // Enough threads for one piece each up to a full block; longer rows give each thread up to
  // kMaxItems pieces.
  const int threads = pieces < kMaxThreads ? (pieces + 31) / 32 * 32 : kMaxThreads;
  const int items = (pieces + threads - 1) / threads;
  const dim3 grid(static_cast<unsigned>(a.rows));
  const auto kernel = items == 1   ? rms_norm_kernel<T, 1>
                      : items == 2 ? rms_norm_kernel<T, 2>
                                   : rms_norm_kernel<T, kMaxItems>;
  return launch_dependent(kernel, grid, threads, 0, stream, a);
}

}  // namespace

bool rms_norm_supported(DType dtype, int64_t dim) {
  const int width = vector_width(dtype);
  return dim > 0 && dim % width == 0 && dim / width <= static_cast<int64_t>(kMaxThreads) * kMaxItems;
}

cudaError_t rms_norm(const RmsNormArgs& a, cudaStream_t stream) {
  if (!rms_norm_supported(a.dtype, a.dim) || a.rows < 0 || a.rows > 0x7fffffff || !a.x || !a.weight || !a.out ||
      (a.residual && !a.sum))
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  return with_element_type(a.dtype, [&](auto t) { return launch<decltype(t)>(a, stream); });
}

}  // namespace trimvl::cuda
