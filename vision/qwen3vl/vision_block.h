#pragma once
// model.visual.blocks.{i}: a pre-LayerNorm transformer block (transformers 4.57.1
// Qwen3VLVisionBlock):
//   x = x + attn.proj(attention(rotary(q), rotary(k), v))    q, k, v = split(attn.qkv(norm1(x)))
//   x = x + mlp.linear_fc2(act(mlp.linear_fc1(norm2(x))))    act: gelu_pytorch_tanh (or exact gelu)
// Attention is bidirectional and confined to segments: each image, and each temporal group of a
// video, attends only to itself (HF's cu_seqlens), scaled by head_dim^-0.5.
#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "kernels/io/weight_loader.h"
#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/layers.h"
#include "vision/qwen3vl/vision_config.h"
#include "vision/qwen3vl/vision_rotary.h"

namespace trimvl::vision::qwen3vl {

// `count` consecutive attention segments of `length` patches each. Runs of equal segments (the
// frames of a video) are attended in one batched call.
struct SegmentRun {
  int64_t length = 0, count = 0;
  bool operator==(const SegmentRun&) const = default;
};

// The segments of the packed sequence, in order: one of h*w patches per temporal group of each grid.
std::vector<SegmentRun> attention_segments(std::span<const GridThw> grids);

class VisionBlock {
 public:
  VisionBlock(const VisionConfig& config, const io::WeightLoader::Scope& scope);
  // x [patches, hidden_size] in the weights' dtype and device.
  at::Tensor forward(const at::Tensor& x, const RotaryTables& rotary, std::span<const SegmentRun> segments) const;

 private:
  at::Tensor attention(const at::Tensor& x, const RotaryTables& rotary, std::span<const SegmentRun> segments) const;

  LayerNorm norm1_, norm2_;
  Linear qkv_, proj_, fc1_, fc2_;
  int64_t num_heads_ = 0, head_dim_ = 0;
  bool tanh_gelu_ = true;
};

}  // namespace trimvl::vision::qwen3vl
