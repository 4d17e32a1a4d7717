#include "language/qwen3vl/rms_norm.h"

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

RmsNorm::RmsNorm(const io::WeightLoader::Scope& scope, int64_t dim, double eps)
    : weight_(scope.take("weight", {dim})), eps_(eps) {}

at::Tensor RmsNorm::operator()(const at::Tensor& x) const {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight_ * (xf * at::rsqrt(variance + eps_)).to(x.scalar_type());
}

}  // namespace trimvl::qwen3vl
