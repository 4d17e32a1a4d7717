#pragma once
// The text half of Qwen3VLForConditionalGeneration: model.language_model plus lm_head, loaded from
// a checkpoint (the vision tower's tensors, model.visual.*, are left to the vision encoder): a
// safetensors checkpoint, or any other io::WeightSource (random weights for benchmarks).
//
//   auto config = qwen3vl::TextConfig::load(dir / "config.json");
//   auto ckpt = io::SafetensorsCheckpoint::open(dir);
//   auto decoder = qwen3vl::TextDecoder::load(ckpt, config, at::kBFloat16, at::kCUDA);
//   cache::FullCache cache(decoder.model.config().num_hidden_layers);
//   at::Tensor hidden = decoder.model.forward(decoder.model.embed(ids), positions, tokens, cache);
//   at::Tensor next = decoder.lm_head(hidden.narrow(0, -1, 1)).argmax(-1);
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "kernels/io/weight_source.h"
#include "language/qwen3vl/lm_head.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_model.h"

namespace trimvl::qwen3vl {

struct TextDecoder {
  TextModel model;
  LmHead lm_head;

  // dtype: bf16, fp16 or fp32 (weights are converted). Every missing or misshapen tensor and every
  // unexpected one under model.language_model. (and lm_head. when untied) is reported in one Error
  // naming the checkpoint. A tied model ignores a stored lm_head.weight, as transformers does, and
  // says so in the log. `gates`: optional retention gates (see TextModel).
  static TextDecoder load(const io::WeightSource& checkpoint, const TextConfig& config,
                          c10::ScalarType dtype, c10::Device device, const cache::GateCheckpoint* gates = nullptr);
};

}  // namespace trimvl::qwen3vl
