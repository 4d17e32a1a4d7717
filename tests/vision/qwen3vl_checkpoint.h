#pragma once
// Random Qwen3-VL vision towers for tests that need weights but no reference: the tensor names and
// shapes of transformers' Qwen3VLVisionModel under model.visual., written as a checkpoint directory
// (config.json with model_type qwen3_vl + model.safetensors) that VisionModel::load reads.
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "vision/qwen3vl/vision_config.h"

namespace trimvl::vision::qwen3vl::test {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// fp32 weights of magnitudes that keep activations O(1) through the blocks: linear weights
// N(0, 1/fan_in), LayerNorm weights around 1, small biases.
NamedTensors random_vision_weights(const VisionConfig& config, uint64_t seed);

// The parsed form of `vision_config` (a config.json "vision_config" object).
VisionConfig vision_config_from(const nlohmann::json& vision_config);

void write_vision_checkpoint(const std::filesystem::path& dir, const nlohmann::json& vision_config,
                             const NamedTensors& tensors);

// A small tower: the 4B's head_dim (64), 3 blocks with DeepStack after 0 and 2, patch 8, 6 x 6
// learned positions.
nlohmann::json small_vision_config();

}  // namespace trimvl::vision::qwen3vl::test
