#include "language/qwen3vl/lm_head.h"

#include <ATen/ATen.h>

#include "kernels/ops/gemv.h"

namespace trimvl::qwen3vl {

at::Tensor LmHead::operator()(const at::Tensor& hidden) const { return ops::linear(hidden, weight_); }

}  // namespace trimvl::qwen3vl
