#include "kernels/ops/rotary.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/rotary.h"
#endif

namespace trimvl::ops {
namespace {

#ifdef TRIMVL_HAS_CUDA
bool same_kind(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() && t.device() == like.device() && t.scalar_type() == like.scalar_type() && aligned_16(t);
}

// [T, H, D] with each head's row contiguous and rows D apart; strides of size-1 dims are free.
bool head_rows(const at::Tensor& t, const at::Tensor& like, int64_t width) {
  const int64_t d = like.size(2);
  return same_kind(t, like) && t.dim() == 3 && t.size(0) == like.size(0) && t.size(2) == d &&
         t.stride(2) == 1 && (t.size(1) <= 1 || t.stride(1) == d) &&
         (t.size(0) <= 1 || t.stride(0) % width == 0);
}

// A vector of D (a weight) or one row of D per token (a rotary table).
bool table(const at::Tensor& t, const at::Tensor& like, int64_t rows) {
  return same_kind(t, like) && t.is_contiguous() && t.numel() == rows * like.size(2) && t.size(-1) == like.size(2);
}
#endif

}  // namespace

bool qk_norm_rope_supported(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_weight,
                            const at::Tensor& k_weight, const at::Tensor& cos, const at::Tensor& sin) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(q) || q.dim() != 3) return false;
  const auto type = cuda_dtype(q.scalar_type());
  if (!type || !cuda::qk_norm_rope_supported(*type, q.size(2))) return false;
  const int64_t width = cuda::vector_width(*type);
  return head_rows(q, q, width) && head_rows(k, q, width) && table(q_weight, q, 1) && table(k_weight, q, 1) &&
         table(cos, q, q.size(0)) && table(sin, q, q.size(0)) && q.size(1) + k.size(1) <= 0x7fffffff;
#else
  (void)q, (void)k, (void)q_weight, (void)k_weight, (void)cos, (void)sin;
  return false;
#endif
}

RotatedQk qk_norm_rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& q_weight,
                       const at::Tensor& k_weight, double eps, const at::Tensor& cos, const at::Tensor& sin) {
  TRIMVL_CHECK(qk_norm_rope_supported(q, k, q_weight, k_weight, cos, sin),
               "qk_norm_rope: no CUDA kernel for q {}, k {}, weights {} and {}, cos {}, sin {}", describe(q),
               describe(k), describe(q_weight), describe(k_weight), describe(cos), describe(sin));
  RotatedQk out;
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(q.device());
  out.q = at::empty(q.sizes(), q.options());
  out.k = at::empty(k.sizes(), k.options());
  const int64_t tokens = q.size(0), d = q.size(2);
  // Each projection is normalised as its own [T, H, D] tensor, so the mean's factor is its own.
  const auto heads = [&](const at::Tensor& in, const at::Tensor& weight, at::Tensor& result) {
    cuda::NormRopeHeads h;
    h.in = in.data_ptr();
    h.token_stride = in.stride(0);
    h.heads = static_cast<int>(in.size(1));
    h.weight = weight.data_ptr();
    h.out = result.data_ptr();
    h.mean_factor = static_cast<float>(tokens * in.size(1)) / static_cast<float>(in.numel());
    return h;
  };
  cuda::QkNormRopeArgs a;
  a.dtype = *cuda_dtype(q.scalar_type());
  a.tokens = tokens;
  a.head_dim = static_cast<int>(d);
  a.eps = static_cast<float>(eps);  // ATen adds the double eps to a float tensor as a float
  a.cos = cos.data_ptr();
  a.sin = sin.data_ptr();
  a.q = heads(q, q_weight, out.q);
  a.k = heads(k, k_weight, out.k);
  check_cuda(cuda::qk_norm_rope(a, static_cast<cudaStream_t>(current_stream(q.device()))), "qk_norm_rope");
#else
  (void)eps;
#endif
  return out;
}

}  // namespace trimvl::ops
