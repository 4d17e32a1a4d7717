#pragma once
// model.visual.patch_embed: Conv3d(in_channels, hidden, kernel = stride = (temporal_patch_size,
// patch_size, patch_size)) applied to each flattened patch. Kernel and input are the same size, so
// it is the matmul it equals: pixel_values [N, C*T*P*P] @ proj.weight.view(hidden, -1)^T + bias,
// the row layout (C, T, P, P) being the processors' (patchify.h).
#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "vision/qwen3vl/layers.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::vision::qwen3vl {

class PatchEmbed {
 public:
  PatchEmbed(const VisionConfig& config, const io::WeightLoader::Scope& scope);
  // [N, patch_dim] in the weights' dtype and device -> [N, hidden_size].
  at::Tensor forward(const at::Tensor& pixel_values) const { return proj_(pixel_values); }

 private:
  Linear proj_;
};

}  // namespace trimvl::vision::qwen3vl
