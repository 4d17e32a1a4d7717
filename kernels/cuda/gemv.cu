// One-token matrix-vector product; see gemv.h. One warp per weight row: lane l takes the row's
// 16-byte pieces l, l + 32, ..., kUnroll of them in flight before any is used, and the matching
// pieces of x through the read-only cache (x is at most a few tens of KB, read by every warp).
#include "kernels/cuda/gemv.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kUnroll = 8;

// A weight piece, read once per step: not kept in L1 (left to x). Volatile, so that the compiler
// issues a row's kUnroll loads together instead of sinking each next to its first use (it did,
// leaving one or two in flight per warp).
__device__ __forceinline__ uint4 load_weight(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

template <typename T>
__device__ __forceinline__ float dot16(const uint4& w, const uint4& x, float acc) {
  constexpr int kVec = Vec<T>::kSize;
  float wf[kVec], xf[kVec];
  unpack<T>(w, wf);
  unpack<T>(x, xf);
#pragma unroll
  for (int e = 0; e < kVec; ++e) acc = fmaf(wf[e], xf[e], acc);
  return acc;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) gemv_kernel(GemvArgs a) {
  const int lane = threadIdx.x % 32;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (row >= a.rows) return;
  const int64_t pieces = a.cols / Vec<T>::kSize;
  const uint4* w = reinterpret_cast<const uint4*>(static_cast<const T*>(a.weight) + row * a.cols);
  const uint4* x = reinterpret_cast<const uint4*>(a.x);
  // kUnroll weight pieces in flight per lane: the next round's loads sit in their own (guarded)
  // block, which keeps the scheduler from interleaving them one by one with the arithmetic, as it
  // does with a plain unrolled loop (one or two in flight, SASS of 2026-12-06). x comes from L1.
  const int64_t full = pieces / (32 * kUnroll) * (32 * kUnroll);  // pieces the unrolled rounds cover
  float acc = 0.f;
  uint4 wr[kUnroll];
  int64_t p = lane;
  if (p < full) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wr[u] = load_weight(w + p + 32 * u);
  }
  for (; p < full; p += 32 * kUnroll) {
    uint4 next[kUnroll];
    if (p + 32 * kUnroll < full) {
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) next[u] = load_weight(w + p + 32 * kUnroll + 32 * u);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      acc = dot16<T>(wr[u], __ldg(x + p + 32 * u), acc);
      wr[u] = next[u];
    }
  }
  for (p = full + lane; p < pieces; p += 32) acc = dot16<T>(load_weight(w + p), __ldg(x + p), acc);
#pragma unroll
  for (int o = 16; o > 0; o /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, o);
  if (lane != 0) return;
  if (a.bias) acc += to_float(static_cast<const T*>(a.bias)[row]);
  if (a.residual) acc += to_float(static_cast<const T*>(a.residual)[row]);
  static_cast<T*>(a.out)[row] = from_float<T>(acc);
}

}  // namespace

cudaError_t gemv(const GemvArgs& a, cudaStream_t stream) {
  if (a.rows < 0 || a.cols <= 0 || a.cols % vector_width(a.dtype) != 0 || !a.weight || !a.x || !a.out)
    return cudaErrorInvalidValue;
  if (a.rows == 0) return cudaSuccess;
  const int64_t blocks = (a.rows + kWarps - 1) / kWarps;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  return with_element_type(a.dtype, [&](auto t) {
    gemv_kernel<decltype(t)><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(a);
    return cudaGetLastError();
  });
}

}  // namespace trimvl::cuda
