// Fused q/k RMSNorm + rotary embedding; see rotary.h. Each (token, head) row is handled by a group
// of kLanes threads, each holding one 16-byte piece of the first half of the row and the matching
// piece of the second half — the two elements rotate_half pairs — so the rotation needs no data
// from other threads; only the sum of squares is shared, through shuffles within the group.
// Launched as a dependent of the kernel before it (dependent_launch.cuh).
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/rotary.h"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {
namespace {

constexpr int kThreads = 128;

template <typename T, int kLanes>
__global__ void __launch_bounds__(kThreads) qk_norm_rope_kernel(QkNormRopeArgs a) {
  constexpr int kVec = Vec<T>::kSize;
  constexpr int kHalf = kLanes * kVec;
  const int heads = a.q.heads + a.k.heads;
  const int64_t row = (static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x) / kLanes;
  const int part = static_cast<int>(threadIdx.x % kLanes) * kVec;
  const bool valid = row < a.tokens * heads;
  wait_for_producers();
  release_dependents();
  const int64_t t = valid ? row / heads : 0;
  const int h = valid ? static_cast<int>(row % heads) : 0;
  // Fields picked one by one: selecting a whole struct of the parameter space by a runtime
  // condition would copy both to local memory.
  const bool is_q = h < a.q.heads;
  const int head = is_q ? h : h - a.q.heads;
  const T* in = static_cast<const T*>(is_q ? a.q.in : a.k.in) + t * (is_q ? a.q.token_stride : a.k.token_stride) +
                static_cast<int64_t>(head) * 2 * kHalf;

  float x1[kVec], x2[kVec];
  float squares = 0.f;
  if (valid) {
    unpack<T>(load16(in + part), x1);
    unpack<T>(load16(in + kHalf + part), x2);
#pragma unroll
    for (int e = 0; e < kVec; ++e) squares = __fadd_rn(squares, __fmul_rn(x1[e], x1[e]));
#pragma unroll
    for (int e = 0; e < kVec; ++e) squares = __fadd_rn(squares, __fmul_rn(x2[e], x2[e]));
  }
  // Every lane of the warp takes part in the shuffles, rows past the end included.
#pragma unroll
  for (int o = kLanes / 2; o > 0; o /= 2) squares = __fadd_rn(squares, __shfl_xor_sync(0xffffffffu, squares, o));
  if (!valid) return;

  const float mean_factor = is_q ? a.q.mean_factor : a.k.mean_factor;
  const float inv_rms = rsqrtf(__fadd_rn(__fmul_rn(squares, mean_factor), a.eps));
  const T* weight = static_cast<const T*>(is_q ? a.q.weight : a.k.weight);
  float w1[kVec], w2[kVec];
  unpack<T>(load16(weight + part), w1);
  unpack<T>(load16(weight + kHalf + part), w2);
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    x1[e] = mul_as<T>(w1[e], mul_as<T>(x1[e], inv_rms));
    x2[e] = mul_as<T>(w2[e], mul_as<T>(x2[e], inv_rms));
  }

  const T* cos = static_cast<const T*>(a.cos) + t * 2 * kHalf;
  const T* sin = static_cast<const T*>(a.sin) + t * 2 * kHalf;
  float c1[kVec], c2[kVec], s1[kVec], s2[kVec];
  unpack<T>(load16(cos + part), c1);
  unpack<T>(load16(cos + kHalf + part), c2);
  unpack<T>(load16(sin + part), s1);
  unpack<T>(load16(sin + kHalf + part), s2);
  float o1[kVec], o2[kVec];
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    // rotate_half(y) is (−y2, y1); the negation is exact, so T(−y2 · s) = −T(y2 · s) either way.
    o1[e] = add_as<T>(mul_as<T>(x1[e], c1[e]), mul_as<T>(-x2[e], s1[e]));
    o2[e] = add_as<T>(mul_as<T>(x2[e], c2[e]), mul_as<T>(x1[e], s2[e]));
  }
  const int job_heads = is_q ? a.q.heads : a.k.heads;
  T* out = static_cast<T*>(is_q ? a.q.out : a.k.out) + (t * job_heads + head) * 2 * kHalf;
  store16(out + part, o1);
  store16(out + kHalf + part, o2);
}

template <typename T, int kLanes>
cudaError_t launch(const QkNormRopeArgs& a, cudaStream_t stream) {
  const int64_t blocks = (a.tokens * (a.q.heads + a.k.heads) * kLanes + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  return launch_dependent(qk_norm_rope_kernel<T, kLanes>, static_cast<unsigned>(blocks), kThreads, 0, stream, a);
}

template <typename T>
cudaError_t dispatch_lanes(const QkNormRopeArgs& a, cudaStream_t stream) {
  switch (a.head_dim / (2 * Vec<T>::kSize)) {
    case 1: return launch<T, 1>(a, stream);
    case 2: return launch<T, 2>(a, stream);
    case 4: return launch<T, 4>(a, stream);
    case 8: return launch<T, 8>(a, stream);
    case 16: return launch<T, 16>(a, stream);
    case 32: return launch<T, 32>(a, stream);
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace

bool qk_norm_rope_supported(DType dtype, int64_t head_dim) {
  const int64_t pair = 2 * vector_width(dtype);
  if (head_dim <= 0 || head_dim % pair != 0) return false;
  const int64_t lanes = head_dim / pair;
  return lanes <= 32 && (lanes & (lanes - 1)) == 0;
}

cudaError_t qk_norm_rope(const QkNormRopeArgs& a, cudaStream_t stream) {
  const int64_t rows = a.tokens * (a.q.heads + a.k.heads);
  if (!qk_norm_rope_supported(a.dtype, a.head_dim) || a.tokens < 0 || a.q.heads < 0 || a.k.heads < 0 || !a.cos ||
      !a.sin || (a.q.heads > 0 && (!a.q.in || !a.q.weight || !a.q.out)) ||
      (a.k.heads > 0 && (!a.k.in || !a.k.weight || !a.k.out)))
    return cudaErrorInvalidValue;
  if (rows == 0) return cudaSuccess;
  return with_element_type(a.dtype, [&](auto t) { return dispatch_lanes<decltype(t)>(a, stream); });
}

}  // namespace trimvl::cuda
