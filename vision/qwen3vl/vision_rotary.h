#pragma once
// The vision blocks' 2-D axial rotary embedding (transformers 4.57.1 Qwen3VLVisionRotaryEmbedding
// and Qwen3VLVisionModel.rot_pos_emb). With d = head_dim / 2 and inv_freq[k] = 1 / 10000^(2k / d)
// for k < d / 2 (float32, computed as HF does), a patch at full-grid (row, col) gets the angles
// [row * inv_freq, col * inv_freq] (d values), duplicated to head_dim; rows and columns are the
// same for every temporal group. No weights: nothing of it is stored in checkpoints.
#include <span>
#include <utility>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::vision::qwen3vl {

struct RotaryTables {
  at::Tensor cos, sin;  // [patches, head_dim] float32, in grid.h's patch order
};

class VisionRotary {
 public:
  explicit VisionRotary(const VisionConfig& config);

  RotaryTables forward(std::span<const GridThw> grids, c10::Device device) const;

  // q or k [patches, heads, head_dim] in the activation dtype: x cos + rotate_half(x) sin computed
  // in float32 (rotate_half(x) = [-x2, x1] for halves x1, x2), cast back to x's dtype.
  static at::Tensor apply(const at::Tensor& x, const RotaryTables& tables);
  // apply() to q and k, in one fused launch on CUDA (kernels/ops/vision_rope.h: bit-identical).
  static std::pair<at::Tensor, at::Tensor> apply(const at::Tensor& q, const at::Tensor& k, const RotaryTables& tables);

 private:
  at::Tensor inv_freq_;  // [head_dim / 4] float32, CPU
  int64_t merge_size_ = 0;
};

}  // namespace trimvl::vision::qwen3vl
