// The vision blocks' rotary embedding; see vision_rope.h. The ATen chain it replaces launches seven
// kernels per tensor and writes four float32 intermediates of the whole [patches, heads, D] tensor
// (a 1024×1024 image: 4096 patches, 24 blocks), which made it a third of the vision tower's time;
// here each output element is read once and written once.
//
// The _rn intrinsics keep nvcc from contracting x·cos + r·sin into an FMA, which would round once
// where ATen rounds twice.
#include "kernels/cuda/vector_io.cuh"
#include "kernels/cuda/vision_rope.h"

namespace trimvl::cuda {
namespace {

// Grid (tokens, 2): blockIdx.y picks q or k; a thread per (head, pair i, i + D/2) of the token.
template <typename T>
__global__ void vision_rope_kernel(VisionRopeArgs a) {
  const int64_t t = blockIdx.x;
  const T* in = static_cast<const T*>(blockIdx.y == 0 ? a.q : a.k) + t * a.token_stride;
  T* out = static_cast<T*>(blockIdx.y == 0 ? a.q_out : a.k_out) + t * a.heads * a.head_dim;
  const float* cos = a.cos + t * a.head_dim;
  const float* sin = a.sin + t * a.head_dim;
  const int half = a.head_dim / 2;
  for (int p = threadIdx.x; p < a.heads * half; p += blockDim.x) {
    const int h = p / half, i = p % half;
    const int lo = h * a.head_dim + i, hi = lo + half;
    const float x1 = to_float(in[lo]), x2 = to_float(in[hi]);
    out[lo] = from_float<T>(__fadd_rn(__fmul_rn(x1, cos[i]), __fmul_rn(-x2, sin[i])));
    out[hi] = from_float<T>(__fadd_rn(__fmul_rn(x2, cos[i + half]), __fmul_rn(x1, sin[i + half])));
  }
}

}  // namespace

cudaError_t vision_rope(const VisionRopeArgs& a, cudaStream_t stream) {
  if (a.tokens < 0 || a.heads <= 0 || a.head_dim <= 0 || a.head_dim % 2 != 0 || !a.q || !a.k || !a.cos || !a.sin ||
      !a.q_out || !a.k_out)
    return cudaErrorInvalidValue;
  if (a.tokens == 0) return cudaSuccess;
  const int pairs = a.heads * a.head_dim / 2;
  const int threads = pairs < 1024 ? (pairs + 31) / 32 * 32 : 1024;
  return with_element_type(a.dtype, [&](auto t) {
    vision_rope_kernel<decltype(t)><<<dim3(static_cast<unsigned>(a.tokens), 2), threads, 0, stream>>>(a);
    return cudaGetLastError();
  });
}

}  // namespace trimvl::cuda
