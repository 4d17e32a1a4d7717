#pragma once
// model.visual.pos_embed: a learned G x G grid of position vectors (G^2 = num_position_embeddings),
// resampled to each item's h x w patch grid -- bilinear with align_corners=True, i.e. patch row i
// reads table row i * (G - 1) / (h - 1) -- emitted in the patch order of grid.h and repeated for
// every temporal group.
//
// Arithmetic as transformers 4.57.1 (Qwen3VLVisionModel.fast_pos_embed_interpolate), which is what
// bf16 parity needs: the four bilinear weights are computed in float32 and rounded to the table's
// dtype, and the four weighted taps are multiplied and summed, left to right, in that dtype.
// (transformers 5 keeps the weights and the sum in float32.)
#include <span>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::vision::qwen3vl {

class PositionEmbedding {
 public:
  PositionEmbedding(const VisionConfig& config, const io::WeightLoader::Scope& scope);
  // [total_patches(grids), hidden_size] in the table's dtype and device.
  at::Tensor forward(std::span<const GridThw> grids) const;
  const at::Tensor& table() const { return table_; }

 private:
  at::Tensor table_;  // [G * G, hidden_size]
  int64_t side_ = 0;  // G
  int64_t merge_size_ = 0;
};

}  // namespace trimvl::vision::qwen3vl
