// Fused q/k RMSNorm + rotary embedding; see rotary.h. Each (token, head) row is handled by a group
// of kLanes threads (norm_rope_head.cuh). Launched as a dependent of the kernel before it
// (dependent_launch.cuh).
#include "kernels/cuda/dependent_launch.cuh"
#include "kernels/cuda/norm_rope_head.cuh"
#include "kernels/cuda/rotary.h"

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
  if (valid) {
    unpack<T>(load16(in + part), x1);
    unpack<T>(load16(in + kHalf + part), x2);
  }
  const int job_heads = is_q ? a.q.heads : a.k.heads;
  norm_rope_head<T, kLanes>(x1, x2, valid, is_q ? a.q.mean_factor : a.k.mean_factor, a.eps,
                            static_cast<const T*>(is_q ? a.q.weight : a.k.weight),
                            static_cast<const T*>(a.cos) + t * 2 * kHalf, static_cast<const T*>(a.sin) + t * 2 * kHalf,
                            static_cast<T*>(is_q ? a.q.out : a.k.out) + (t * job_heads + head) * 2 * kHalf);
}

template <typename T, int kLanes>
cudaError_t launch(const QkNormRopeArgs& a, cudaStream_t stream) {
  const int64_t blocks = (a.tokens * (a.q.heads + a.k.heads) * kLanes + kThreads - 1) / kThreads;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  return launch_dependent(qk_norm_rope_kernel<T, kLanes>, static_cast<unsigned>(blocks), kThreads, 0, stream, a);
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
  return with_element_type(a.dtype, [&](auto t) {
    using T = decltype(t);
    return with_head_lanes<T>(a.head_dim, [&](auto lanes) { return launch<T, decltype(lanes)::value>(a, stream); });
  });
}

}  // namespace trimvl::cuda
