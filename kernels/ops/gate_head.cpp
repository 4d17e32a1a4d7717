#include "kernels/ops/gate_head.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/gate_head.h"
#endif

namespace trimvl::ops {

bool gate_head_supported(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(hidden) || hidden.dim() != 2) return false;
  const auto type = cuda_dtype(hidden.scalar_type());
  if (!type) return false;
  const auto same = [&](const at::Tensor& t) {
    return t.defined() && t.device() == hidden.device() && t.scalar_type() == hidden.scalar_type() &&
           t.is_contiguous() && aligned_16(t);
  };
  const int64_t width = hidden.size(1);
  return same(hidden) && same(weight) && bias.defined() && bias.device() == hidden.device() &&
         bias.scalar_type() == hidden.scalar_type() && bias.is_contiguous() && weight.dim() == 2 &&
         weight.size(1) == width && weight.size(0) >= 1 && weight.size(0) <= 32 && bias.dim() == 1 &&
         bias.size(0) == weight.size(0) && width > 0 && width % cuda::vector_width(*type) == 0;
#else
  (void)hidden, (void)weight, (void)bias;
  return false;
#endif
}

at::Tensor gate_head(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& bias) {
  TRIMVL_CHECK(gate_head_supported(hidden, weight, bias), "gate_head: no CUDA kernel for hidden {}, weight {}, bias {}",
               describe(hidden), describe(weight), describe(bias));
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(hidden.device());
  at::Tensor out = at::empty({hidden.size(0), weight.size(0)}, hidden.options());
  cuda::GateHeadArgs a;
  a.dtype = *cuda_dtype(hidden.scalar_type());
  a.rows = hidden.size(0);
  a.width = static_cast<int>(hidden.size(1));
  a.heads = static_cast<int>(weight.size(0));
  a.hidden = hidden.data_ptr();
  a.weight = weight.data_ptr();
  a.bias = bias.data_ptr();
  a.out = out.data_ptr();
  check_cuda(cuda::gate_head(a, static_cast<cudaStream_t>(current_stream(hidden.device()))), "gate_head");
  return out;
#else
  return {};
#endif
}

}  // namespace trimvl::ops
