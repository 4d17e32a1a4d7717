#pragma once
// Qwen3VLTextMLP (`mlp`): SwiGLU without biases, down_proj(silu(gate_proj(x)) · up_proj(x)), with
// gate_proj and up_proj as one GEMM and, on CUDA, silu · up as one kernel (kernels/ops/swiglu.h).
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/text_config.h"

namespace trimvl::qwen3vl {

class TextMlp {
 public:
  TextMlp(const TextConfig& config, const io::WeightLoader::Scope& mlp);

  at::Tensor operator()(const at::Tensor& x) const;  // [T, hidden] -> [T, hidden]

 private:
  int64_t intermediate_;
  at::Tensor gate_up_proj_;  // gate_proj and up_proj weights stacked: [2·I, hidden]
  at::Tensor down_proj_;     // [hidden, I]
};

}  // namespace trimvl::qwen3vl
