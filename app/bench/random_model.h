#pragma once
// A Qwen3-VL model of a config's real shape with random weights, made in memory (DESIGN §6: the
// benchmark needs the 4B's sizes, not its values, and no download). The tensor names and shapes
// are the hub checkpoint's (../shared/reference/qwen3vl_4b_checkpoint_tensors.tsv), so the model
// loads through the same WeightLoader, which checks that every parameter arrived.
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <vector>

#include "cache/gate_checkpoint.h"
#include "kernels/io/random_weights.h"
#include "language/qwen3vl/text_config.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::app {

// Every tensor of a Qwen3-VL checkpoint with these configs: model.visual.*, model.language_model.*,
// and lm_head.weight unless the text config ties it. Norm scales are ones, biases zeros, matrices
// and embeddings N(0, 0.02²) (RandomWeights).
std::vector<io::RandomTensor> qwen3vl_tensors(const qwen3vl::TextConfig& text,
                                              const vision::qwen3vl::VisionConfig& vision);

// Retention gates of `type` for `text` (intermediate size 512 as in every published checkpoint;
// rg10's last projection and bias tied across layers), in `dtype` on `device`. The MLP weights are
// N(0, 0.02²); each KV head's bias is drawn from U(2, 8), so retentions β = sigmoid(bias + small)
// span 0.88–0.9997 and heads age at different rates, as trained gates make them, instead of all
// evicting in one order.
cache::GateCheckpoint random_gates(cache::GateType type, const qwen3vl::TextConfig& text, c10::ScalarType dtype,
                                   c10::Device device, uint64_t seed);

// Bytes of a gate checkpoint's distinct tensors (tied ones once).
int64_t gate_bytes(const cache::GateCheckpoint& gates);

}  // namespace trimvl::app
