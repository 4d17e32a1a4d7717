#pragma once
// RMSNorm as Qwen3VLTextRMSNorm computes it: normalise in fp32, cast back to the input dtype, then
// multiply by the weight in that dtype (a plain multiplier, not 1 + w). The cast before the
// multiply is what bf16 parity depends on.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"

namespace trimvl::qwen3vl {

class RmsNorm {
 public:
  // Takes `weight` [dim] from the scope.
  RmsNorm(const io::WeightLoader::Scope& scope, int64_t dim, double eps);

  // Over the last dimension, which must be `dim`.
  at::Tensor operator()(const at::Tensor& x) const;

 private:
  at::Tensor weight_;
  double eps_;
};

}  // namespace trimvl::qwen3vl
