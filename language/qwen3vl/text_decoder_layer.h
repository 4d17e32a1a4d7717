#pragma once
// Qwen3VLTextDecoderLayer (`layers.{i}`), pre-norm with residual adds in the activation dtype:
//   h = x + self_attn(input_layernorm(x));  out = h + mlp(post_attention_layernorm(h))
#include <ATen/core/Tensor.h>

#include "cache/kv_cache.h"
#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/rms_norm.h"
#include "language/qwen3vl/rotary.h"
#include "language/qwen3vl/text_attention.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_mlp.h"

namespace trimvl::qwen3vl {

class TextDecoderLayer {
 public:
  TextDecoderLayer(const TextConfig& config, const io::WeightLoader::Scope& layer, int index);

  at::Tensor operator()(const at::Tensor& x, const RotaryTables& rope, cache::KvCache& cache) const;

 private:
  RmsNorm input_layernorm_;
  TextAttention self_attn_;
  RmsNorm post_attention_layernorm_;
  TextMlp mlp_;
};

}  // namespace trimvl::qwen3vl
