#pragma once
// One (token, head) row's q/k RMSNorm + rotary embedding (rotary.h has the numerics), shared by the
// q/k-norm + RoPE launch (rotary.cu) and the q/k/v projection that applies it in its last CTA of
// each head (gemv.cu), so the two are the same arithmetic. A group of kLanes threads holds the row:
// lane l of the group one 16-byte piece of the first half (x1) and the matching piece of the second
// (x2), the two elements rotate_half pairs, so only the sum of squares crosses lanes.
#include <cuda_runtime_api.h>

#include <type_traits>

#include "kernels/cuda/opmath.cuh"
#include "kernels/cuda/vector_io.cuh"

namespace trimvl::cuda {

// Called by every lane of the warp (the shuffles take them all); lanes whose row is not `valid`
// contribute nothing and store nothing. weight, cos and sin: the row's [D] (cos and sin of its token).
template <typename T, int kLanes>
__device__ __forceinline__ void norm_rope_head(float (&x1)[Vec<T>::kSize], float (&x2)[Vec<T>::kSize], bool valid,
                                               float mean_factor, float eps, const T* weight, const T* cos,
                                               const T* sin, T* out) {
  constexpr int kVec = Vec<T>::kSize;
  constexpr int kHalf = kLanes * kVec;
  const int part = static_cast<int>(threadIdx.x % kLanes) * kVec;
  float squares = 0.f;
  if (valid) {
#pragma unroll
    for (int e = 0; e < kVec; ++e) squares = __fadd_rn(squares, __fmul_rn(x1[e], x1[e]));
#pragma unroll
    for (int e = 0; e < kVec; ++e) squares = __fadd_rn(squares, __fmul_rn(x2[e], x2[e]));
  }
#pragma unroll
  for (int o = kLanes / 2; o > 0; o /= 2) squares = __fadd_rn(squares, __shfl_xor_sync(0xffffffffu, squares, o));
  if (!valid) return;

  const float inv_rms = rsqrtf(__fadd_rn(__fmul_rn(squares, mean_factor), eps));
  float w1[kVec], w2[kVec];
  unpack<T>(load16(weight + part), w1);
  unpack<T>(load16(weight + kHalf + part), w2);
#pragma unroll
  for (int e = 0; e < kVec; ++e) {
    x1[e] = mul_as<T>(w1[e], mul_as<T>(x1[e], inv_rms));
    x2[e] = mul_as<T>(w2[e], mul_as<T>(x2[e], inv_rms));
  }

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
  store16(out + part, o1);
  store16(out + kHalf + part, o2);
}

// f(std::integral_constant<int, kLanes>) for the lanes a row of head_dim elements takes (1 to 32);
// cudaErrorInvalidValue for any other head_dim.
template <typename T, typename F>
cudaError_t with_head_lanes(int64_t head_dim, F&& f) {
  switch (head_dim % (2 * Vec<T>::kSize) == 0 ? head_dim / (2 * Vec<T>::kSize) : 0) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 8: return f(std::integral_constant<int, 8>{});
    case 16: return f(std::integral_constant<int, 16>{});
    case 32: return f(std::integral_constant<int, 32>{});
    default: return cudaErrorInvalidValue;
  }
}

}  // namespace trimvl::cuda
