#pragma once
// The Qwen3-VL vision tower's configuration: config.json's "vision_config", with transformers
// 4.57.1's Qwen3VLVisionConfig defaults for keys a file leaves out (a missing vision_config is all
// defaults, as HF builds it). The single parser of these keys: `trimvl info` reports from it too.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/runtime/config_json.h"

namespace trimvl::vision::qwen3vl {

struct VisionConfig {
  int64_t depth = 27;
  int64_t hidden_size = 1152;
  int64_t intermediate_size = 4304;
  int64_t num_heads = 16;
  std::string hidden_act = "gelu_pytorch_tanh";  // of the block MLPs; the mergers use exact GELU
  int64_t in_channels = 3;
  int64_t patch_size = 16;
  int64_t temporal_patch_size = 2;
  int64_t spatial_merge_size = 2;
  int64_t out_hidden_size = 3584;          // the text model's hidden size
  int64_t num_position_embeddings = 2304;  // a square grid of learned positions (48 x 48)
  // Blocks (0-based) whose output feeds a DeepStack merger; merger j belongs to entry j.
  std::vector<int64_t> deepstack_visual_indexes = {8, 16, 24};

  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t position_grid_side() const;                     // sqrt(num_position_embeddings)
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }
  int64_t merge_unit() const { return spatial_merge_size * spatial_merge_size; }  // patches per merged token
  int64_t merged_hidden_size() const { return hidden_size * merge_unit(); }
};

// Reads a vision_config object and checks what the encoder relies on: positive sizes, heads that
// divide hidden_size into a head_dim divisible by 4 (two rotary axes of rotate-half pairs), a square
// position table, an MLP activation trimvl implements, DeepStack indexes that are distinct blocks.
// Errors name the file and key.
VisionConfig parse_vision_config(const ConfigObject& vision_config);

// config.json of a Qwen3-VL checkpoint (model_type qwen3_vl) -> its vision_config.
VisionConfig load_vision_config(const std::filesystem::path& config_json);

}  // namespace trimvl::vision::qwen3vl
