#pragma once
// The Qwen3-VL vision encoder, model.visual (transformers 4.57.1 Qwen3VLVisionModel):
//   x = patch_embed(pixel_values) + pos_embed(grids)
//   for block i: x = blocks[i](x)  (2-D rotary, attention within each image / temporal group)
//                after the blocks listed in deepstack_visual_indexes: deepstack.push(merger_j(x))
//   embeds = merger(x)
// Runs in the dtype and on the device its weights were loaded to (bf16, fp16 or fp32; CPU or
// CUDA), through ATen ops; rotary angles and the rotation are float32 as in HF.
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "kernels/io/weight_loader.h"
#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/patch_embed.h"
#include "vision/qwen3vl/patch_merger.h"
#include "vision/qwen3vl/position_embedding.h"
#include "vision/qwen3vl/vision_block.h"
#include "vision/qwen3vl/vision_config.h"
#include "vision/qwen3vl/vision_rotary.h"

namespace trimvl::vision::qwen3vl {

struct VisionOutput {
  // [tokens, out_hidden_size]: one token per merge block, items in order; what the text model
  // writes at the image / video pad positions.
  at::Tensor embeds;
  // One [tokens, out_hidden_size] per DeepStack merger, in block order (as HF appends them);
  // deepstack[k] is added to the visual positions after text layer k.
  std::vector<at::Tensor> deepstack;
  std::vector<GridThw> grids;
  std::vector<TokenSource> sources;  // per token (see grid.h)
};

class VisionModel {
 public:
  // `scope` is the encoder's prefix in the checkpoint ("model.visual").
  VisionModel(VisionConfig config, const io::WeightLoader::Scope& scope);

  // The vision tower of a Qwen3-VL checkpoint directory (config.json + safetensors), in `dtype` on
  // `device`. Every model.visual.* tensor must be used and present with its shape; all mismatches
  // are reported in one error naming the checkpoint.
  static VisionModel load(const std::filesystem::path& checkpoint_dir, c10::ScalarType dtype, c10::Device device);
  // The same from any weight source (e.g. random weights in memory) and an already parsed config.
  static VisionModel load(const io::WeightSource& source, VisionConfig config, c10::ScalarType dtype,
                          c10::Device device);

  const VisionConfig& config() const { return config_; }

  // pixel_values [total_patches(grids), patch_dim] (any floating dtype and device; cast as HF does)
  // for the items `grids`, e.g. the processors' outputs concatenated. Throws InvalidInput when the
  // two do not fit the config or each other.
  VisionOutput forward(const at::Tensor& pixel_values, std::vector<GridThw> grids) const;

 private:
  VisionConfig config_;
  PatchEmbed patch_embed_;
  PositionEmbedding pos_embed_;
  VisionRotary rotary_;
  std::vector<VisionBlock> blocks_;
  PatchMerger merger_;
  std::vector<PatchMerger> deepstack_mergers_;  // deepstack_merger_list.{j}, j as in the config
  c10::ScalarType dtype_;
  c10::Device device_;
};

}  // namespace trimvl::vision::qwen3vl
