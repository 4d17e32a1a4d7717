#include "kernels/ops/vision_rope.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/vision_rope.h"
#endif

namespace trimvl::ops {

bool vision_rope_supported(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(q) || q.dim() != 3 || !cuda_dtype(q.scalar_type())) return false;
  const int64_t heads = q.size(1), d = q.size(2);
  const auto rows = [&](const at::Tensor& t) {
    return t.defined() && t.device() == q.device() && t.scalar_type() == q.scalar_type() && t.sizes() == q.sizes() &&
           t.stride(2) == 1 && (heads <= 1 || t.stride(1) == d) && t.stride(0) == q.stride(0);
  };
  const auto table = [&](const at::Tensor& t) {
    return t.defined() && t.device() == q.device() && t.scalar_type() == at::kFloat && t.is_contiguous() &&
           t.dim() == 2 && t.size(0) == q.size(0) && t.size(1) == d;
  };
  return rows(q) && rows(k) && table(cos) && table(sin) && d > 0 && d % 2 == 0;
#else
  (void)q, (void)k, (void)cos, (void)sin;
  return false;
#endif
}

RotatedPair vision_rope(const at::Tensor& q, const at::Tensor& k, const at::Tensor& cos, const at::Tensor& sin) {
  TRIMVL_CHECK(vision_rope_supported(q, k, cos, sin), "vision_rope: no CUDA kernel for q {}, k {}, cos {}, sin {}",
               describe(q), describe(k), describe(cos), describe(sin));
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(q.device());
  RotatedPair out{at::empty(q.sizes(), q.options()), at::empty(k.sizes(), k.options())};
  cuda::VisionRopeArgs a;
  a.dtype = *cuda_dtype(q.scalar_type());
  a.tokens = q.size(0);
  a.heads = static_cast<int>(q.size(1));
  a.head_dim = static_cast<int>(q.size(2));
  a.q = q.data_ptr();
  a.k = k.data_ptr();
  a.token_stride = q.stride(0);
  a.cos = cos.data_ptr<float>();
  a.sin = sin.data_ptr<float>();
  a.q_out = out.q.data_ptr();
  a.k_out = out.k.data_ptr();
  check_cuda(cuda::vision_rope(a, static_cast<cudaStream_t>(current_stream(q.device()))), "vision_rope");
  return out;
#else
  return {};
#endif
}

}  // namespace trimvl::ops
