#include "language/qwen3vl/text_mlp.h"

#include <ATen/ATen.h>

#include "kernels/ops/gemv.h"
#include "kernels/ops/swiglu.h"

namespace trimvl::qwen3vl {

namespace {

// gate_proj and up_proj stacked into one [2·I, hidden] weight, one GEMM reading x once; the
// separate weights are not kept. Bit-identical to the two GEMMs on the CPU (see text_attention.cpp).
at::Tensor stacked_gate_up(const TextConfig& config, const io::WeightLoader::Scope& mlp) {
  return at::cat({mlp.scope("gate_proj").take("weight", {config.intermediate_size, config.hidden_size}),
                  mlp.scope("up_proj").take("weight", {config.intermediate_size, config.hidden_size})});
}

}  // namespace

TextMlp::TextMlp(const TextConfig& config, const io::WeightLoader::Scope& mlp)
    : intermediate_(config.intermediate_size),
      gate_up_proj_(stacked_gate_up(config, mlp)),
      down_proj_(mlp.scope("down_proj").take("weight", {config.hidden_size, config.intermediate_size})) {}

at::Tensor TextMlp::operator()(const at::Tensor& x) const {
  // A decode step's token: the projection and the activation are one launch.
  if (ops::gemv_silu_mul_supported(x, gate_up_proj_))
    return ops::linear(ops::gemv_silu_mul(x, gate_up_proj_), down_proj_);
  const at::Tensor gate_up = at::linear(x, gate_up_proj_);
  const at::Tensor gate = gate_up.narrow(-1, 0, intermediate_), up = gate_up.narrow(-1, intermediate_, intermediate_);
  if (ops::silu_mul_supported(gate, up)) return at::linear(ops::silu_mul(gate, up), down_proj_);
  // silu of a contiguous tensor, as when gate had its own GEMM: ATen's CPU silu takes the scalar
  // exp at the end of each contiguous run and the vector exp elsewhere, which can differ in the
  // last bit, so on the strided view fp32 logits would move (by ~1e-6 on the golden "odd" model).
  return at::linear(at::silu(gate.contiguous()) * up, down_proj_);
}

}  // namespace trimvl::qwen3vl
