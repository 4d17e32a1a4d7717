#include "kernels/ops/rms_norm.h"

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

#ifdef TRIMVL_HAS_CUDA
#include "kernels/cuda/rms_norm.h"
#endif

namespace trimvl::ops {
namespace {

// A tensor the kernel reads or writes whole rows of, in `like`'s dtype on its device.
bool row_tensor(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() && t.device() == like.device() && t.scalar_type() == like.scalar_type() && t.is_contiguous() &&
         aligned_16(t);
}

#ifdef TRIMVL_HAS_CUDA
at::Tensor launch(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight, double eps,
                  at::Tensor* sum, LastWriterOfX x_writer) {
  const c10::DeviceGuard guard(x.device());
  const int64_t dim = x.size(-1), rows = x.numel() / dim;
  at::Tensor out = at::empty(x.sizes(), x.options());
  cuda::RmsNormArgs a;
  a.dtype = *cuda_dtype(x.scalar_type());
  a.rows = rows;
  a.dim = static_cast<int>(dim);
  a.x = x.data_ptr();
  if (residual.defined()) {
    *sum = at::empty(x.sizes(), x.options());
    a.residual = residual.data_ptr();
    a.sum = sum->data_ptr();
  }
  a.x_settled = x_writer == LastWriterOfX::kEarlier;
  a.weight = weight.data_ptr();
  a.out = out.data_ptr();
  a.eps = static_cast<float>(eps);  // ATen adds the double eps to a float tensor as a float
  a.mean_factor = static_cast<float>(rows) / static_cast<float>(x.numel());
  check_cuda(cuda::rms_norm(a, static_cast<cudaStream_t>(current_stream(x.device()))), "rms_norm");
  return out;
}
#endif

}  // namespace

bool rms_norm_supported(const at::Tensor& x, const at::Tensor& weight) {
#ifdef TRIMVL_HAS_CUDA
  if (!on_cuda_kernels(x) || x.dim() < 1 || !row_tensor(x, x) || !row_tensor(weight, x) || weight.dim() != 1 ||
      weight.size(0) != x.size(-1))
    return false;
  const auto type = cuda_dtype(x.scalar_type());
  return type && cuda::rms_norm_supported(*type, x.size(-1));
#else
  (void)x, (void)weight;
  return false;
#endif
}

bool add_rms_norm_supported(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight) {
  return rms_norm_supported(x, weight) && row_tensor(residual, x) && residual.sizes() == x.sizes();
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  TRIMVL_CHECK(rms_norm_supported(x, weight), "rms_norm: no CUDA kernel for x {} with weight {}", describe(x),
               describe(weight));
#ifdef TRIMVL_HAS_CUDA
  return launch(x, at::Tensor(), weight, eps, nullptr, LastWriterOfX::kPrevious);
#else
  (void)eps;
  return {};
#endif
}

ResidualNorm add_rms_norm(const at::Tensor& x, const at::Tensor& residual, const at::Tensor& weight, double eps,
                          LastWriterOfX x_writer) {
  TRIMVL_CHECK(add_rms_norm_supported(x, residual, weight),
               "add_rms_norm: no CUDA kernel for x {}, residual {} and weight {}", describe(x), describe(residual),
               describe(weight));
  ResidualNorm result;
#ifdef TRIMVL_HAS_CUDA
  result.normed = launch(x, residual, weight, eps, &result.sum, x_writer);
#else
  (void)eps, (void)x_writer;
#endif
  return result;
}

}  // namespace trimvl::ops
