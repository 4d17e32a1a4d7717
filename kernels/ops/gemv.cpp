#include "kernels/ops/gemv.h"

#include <vector>

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/gemv.h"
#endif

namespace trimvl::ops {

bool gemv_supported(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(weight) || weight.dim() != 2 || !weight.is_contiguous() || weight.size(1) == 0) return false;
  const auto type = cuda_dtype(weight.scalar_type());
  if (!type) return false;
  const auto same = [&](const at::Tensor& t) {
    return t.device() == weight.device() && t.scalar_type() == weight.scalar_type() && t.is_contiguous();
  };
  const int64_t n = weight.size(0), k = weight.size(1);
  const bool x_ok = x.defined() && same(x) && (x.dim() == 1 || (x.dim() == 2 && x.size(0) == 1)) &&
                    x.size(-1) == k && aligned_16(x);
  const bool bias_ok = !bias.defined() || (same(bias) && bias.numel() == n &&
                                           (bias.dim() == 1 || (bias.dim() == 2 && bias.size(0) == 1)));
  return x_ok && k % cuda::vector_width(*type) == 0 && aligned_16(weight) && bias_ok;
#else
  (void)x, (void)weight, (void)bias;
  return false;
#endif
}

namespace {

// rows outputs of the plain product, or of SwiGLU over weight's two stacked halves.
at::Tensor launch(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t rows, bool silu_mul) {
#ifdef TRIMVL_HAS_CUDA
  const c10::DeviceGuard guard(weight.device());
  const std::vector<int64_t> shape = x.dim() == 1 ? std::vector<int64_t>{rows} : std::vector<int64_t>{1, rows};
  at::Tensor out = at::empty(shape, weight.options());
  cuda::GemvArgs a;
  a.dtype = *cuda_dtype(weight.scalar_type());
  a.rows = rows;
  a.cols = weight.size(1);
  a.weight = weight.data_ptr();
  a.x = x.data_ptr();
  a.bias = bias.defined() ? bias.data_ptr() : nullptr;
  a.out = out.data_ptr();
  const auto stream = static_cast<cudaStream_t>(current_stream(weight.device()));
  check_cuda(silu_mul ? cuda::gemv_silu_mul(a, stream) : cuda::gemv(a, stream), silu_mul ? "gemv_silu_mul" : "gemv");
  return out;
#else
  (void)x, (void)weight, (void)bias, (void)rows, (void)silu_mul;
  return {};
#endif
}

}  // namespace

at::Tensor gemv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  TRIMVL_CHECK(gemv_supported(x, weight, bias), "gemv: no CUDA kernel for x {}, weight {}, bias {}", describe(x),
               describe(weight), describe(bias));
  return launch(x, weight, bias, weight.size(0), false);
}

bool gemv_silu_mul_supported(const at::Tensor& x, const at::Tensor& gate_up) {
  return gate_up.dim() == 2 && gate_up.size(0) % 2 == 0 && gemv_supported(x, gate_up);
}

at::Tensor gemv_silu_mul(const at::Tensor& x, const at::Tensor& gate_up) {
  TRIMVL_CHECK(gemv_silu_mul_supported(x, gate_up), "gemv_silu_mul: no CUDA kernel for x {}, stacked gate/up {}",
               describe(x), describe(gate_up));
  return launch(x, gate_up, {}, gate_up.size(0) / 2, true);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias) {
  return gemv_supported(x, weight, bias) ? gemv(x, weight, bias) : at::linear(x, weight, bias);
}

}  // namespace trimvl::ops
