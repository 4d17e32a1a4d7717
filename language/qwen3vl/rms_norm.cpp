#include "language/qwen3vl/rms_norm.h"

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

RmsNorm::RmsNorm(const io::WeightLoader::Scope& scope, int64_t dim, double eps)
    : weight_(scope.take("weight", {dim})), eps_(eps) {}

at::Tensor RmsNorm::operator()(const at::Tensor& x) const {
  return ops::rms_norm_supported(x, weight_) ? ops::rms_norm(x, weight_, eps_) : reference(x);
}

ops::ResidualNorm RmsNorm::add_and_norm(const at::Tensor& x, const at::Tensor& residual) const {
  if (ops::add_rms_norm_supported(x, residual, weight_))
    return ops::add_rms_norm(x, residual, weight_, eps_, ops::LastWriterOfX::kEarlier);
  const at::Tensor sum = x + residual;
  return {sum, (*this)(sum)};
}

at::Tensor RmsNorm::reference(const at::Tensor& x) const {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight_ * (xf * at::rsqrt(variance + eps_)).to(x.scalar_type());
}

}  // namespace trimvl::qwen3vl
