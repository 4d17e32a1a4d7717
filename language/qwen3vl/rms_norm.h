#pragma once
// RMSNorm as Qwen3VLTextRMSNorm computes it: normalise in fp32, cast back to the input dtype, then
// multiply by the weight in that dtype (a plain multiplier, not 1 + w). The cast before the
// multiply is what bf16 parity depends on. On CUDA the fused kernel (kernels/ops/rms_norm.h)
// computes the same ops; the ATen code below is the reference everywhere else.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "kernels/ops/rms_norm.h"

namespace trimvl::qwen3vl {

class RmsNorm {
 public:
  // Takes `weight` [dim] from the scope.
  RmsNorm(const io::WeightLoader::Scope& scope, int64_t dim, double eps);

  // Over the last dimension, which must be `dim`.
  at::Tensor operator()(const at::Tensor& x) const;
  // sum = x + residual (in x's dtype) and its norm: the residual add of a pre-norm block and the
  // next norm, one launch on CUDA. x is the stream the block read and `residual` the block's
  // output, so no kernel after the block's first writes x (ops::LastWriterOfX::kEarlier).
  ops::ResidualNorm add_and_norm(const at::Tensor& x, const at::Tensor& residual) const;

  const at::Tensor& weight() const { return weight_; }
  double eps() const { return eps_; }

 private:
  at::Tensor reference(const at::Tensor& x) const;

  at::Tensor weight_;
  double eps_;
};

}  // namespace trimvl::qwen3vl
