#pragma once
// Qwen3VLTextMLP (`mlp`): SwiGLU without biases, down_proj(silu(gate_proj(x)) · up_proj(x)).
#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/text_config.h"

namespace trimvl::qwen3vl {

class TextMlp {
 public:
  TextMlp(const TextConfig& config, const io::WeightLoader::Scope& mlp);

  at::Tensor operator()(const at::Tensor& x) const;  // [T, hidden] -> [T, hidden]

 private:
  at::Tensor gate_proj_, up_proj_, down_proj_;  // weights [out, in]
};

}  // namespace trimvl::qwen3vl
