#include "cache/retention_gate.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/ops/gate_head.h"
#include "kernels/ops/gemv.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {
namespace {

at::Tensor place(const at::Tensor& t, c10::ScalarType dtype, c10::Device device) {
  return t.to(device, dtype).contiguous();
}

std::string shape_of(const at::Tensor& t) { return t.defined() ? fmt::format("{}", t.sizes()) : "none"; }

// A layer that does not chain: each linear's bias fits its weight, and each weight takes the width
// the previous one produces.
bool fits(const GateLinear& linear, int64_t width) {
  return linear.weight.defined() && linear.weight.dim() == 2 && (width < 0 || linear.weight.size(1) == width) &&
         linear.bias.defined() && linear.bias.dim() == 1 && linear.bias.size(0) == linear.weight.size(0);
}

}  // namespace

RetentionGate::RetentionGate(const GateLayer& layer, c10::ScalarType dtype, c10::Device device) {
  TRIMVL_CHECK_ARG(at::isFloatingType(dtype), "a retention gate runs in a floating dtype, not {}", c10::toString(dtype));
  TRIMVL_CHECK_ARG(!layer.hidden.empty(), "a retention gate needs at least one hidden projection");
  // load_gate_checkpoint hands out consistent layers; one assembled elsewhere must be too, or the
  // first forward would fail inside a GEMM.
  int64_t width = -1;  // the first projection takes whatever hidden size it was trained for
  for (const auto& linear : layer.hidden) {
    TRIMVL_CHECK_ARG(fits(linear, width), "retention-gate hidden projection {} with bias {} does not take width {}",
                     shape_of(linear.weight), shape_of(linear.bias), width);
    weights_.hidden.push_back({place(linear.weight, dtype, device), place(linear.bias, dtype, device)});
    width = linear.weight.size(0);
  }
  TRIMVL_CHECK_ARG(fits(GateLinear{layer.out_weight, layer.out_bias}, width),
                   "retention-gate output projection {} with bias {} does not fit width {}", shape_of(layer.out_weight),
                   shape_of(layer.out_bias), width);
  weights_.out_weight = place(layer.out_weight, dtype, device);
  weights_.out_bias = place(layer.out_bias, dtype, device);
}

// The reference's ops, one for one: nn.Linear is at::linear (addmm with its bias on the flattened
// tokens, as for the reference's contiguous [1, T, H] input; a decode step's one token on CUDA goes
// through ops::gemv, which likewise adds the bias before its one rounding), ACT2FN["silu"] is
// at::silu, the separate bias a broadcast add after the bias-free out projection, F.logsigmoid is
// at::log_sigmoid. Each rounds to the model dtype where the reference's does, so bf16 matches.
at::Tensor RetentionGate::operator()(const at::Tensor& x) const {
  const auto& first = weights_.hidden.front().weight;
  TRIMVL_CHECK_ARG(x.defined() && x.dim() == 2 && x.size(1) == first.size(1),
                   "retention-gate input must be [T, {}], got {}", first.size(1), shape_of(x));
  TRIMVL_CHECK_ARG(x.scalar_type() == first.scalar_type() && x.device() == first.device(),
                   "retention-gate input is {} on {}, the gate runs in {} on {}", c10::toString(x.scalar_type()),
                   x.device().str(), c10::toString(first.scalar_type()), first.device().str());
  at::Tensor h = x;
  for (size_t i = 0; i + 1 < weights_.hidden.size(); ++i)
    h = at::silu(ops::linear(h, weights_.hidden[i].weight, weights_.hidden[i].bias));
  h = ops::linear(h, weights_.hidden.back().weight, weights_.hidden.back().bias);
  // On CUDA the last activation, the out projection, its bias and the log-sigmoid are one launch
  // (a decode step would otherwise spend more on four launches per layer than on their arithmetic).
  if (ops::gate_head_supported(h, weights_.out_weight, weights_.out_bias))
    return ops::gate_head(h, weights_.out_weight, weights_.out_bias);
  return at::log_sigmoid(at::linear(at::silu(h), weights_.out_weight) + weights_.out_bias);
}

int64_t RetentionGate::num_kv_heads() const { return weights_.out_weight.size(0); }

}  // namespace trimvl::cache
