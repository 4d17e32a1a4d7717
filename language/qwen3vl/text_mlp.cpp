#include "language/qwen3vl/text_mlp.h"

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

TextMlp::TextMlp(const TextConfig& config, const io::WeightLoader::Scope& mlp)
    : gate_proj_(mlp.scope("gate_proj").take("weight", {config.intermediate_size, config.hidden_size})),
      up_proj_(mlp.scope("up_proj").take("weight", {config.intermediate_size, config.hidden_size})),
      down_proj_(mlp.scope("down_proj").take("weight", {config.hidden_size, config.intermediate_size})) {}

at::Tensor TextMlp::operator()(const at::Tensor& x) const {
  return at::linear(at::silu(at::linear(x, gate_proj_)) * at::linear(x, up_proj_), down_proj_);
}

}  // namespace trimvl::qwen3vl
