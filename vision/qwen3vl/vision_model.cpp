#include "vision/qwen3vl/vision_model.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/ranges.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"

namespace trimvl::vision::qwen3vl {
namespace {

constexpr const char* kPrefix = "model.visual";

std::vector<VisionBlock> load_blocks(const VisionConfig& c, const io::WeightLoader::Scope& scope) {
  std::vector<VisionBlock> blocks;
  blocks.reserve(static_cast<size_t>(c.depth));
  for (int64_t i = 0; i < c.depth; ++i) blocks.emplace_back(c, scope.scope("blocks").scope(i));
  return blocks;
}

std::vector<PatchMerger> load_deepstack(const VisionConfig& c, const io::WeightLoader::Scope& scope) {
  std::vector<PatchMerger> mergers;
  for (size_t j = 0; j < c.deepstack_visual_indexes.size(); ++j)
    mergers.emplace_back(c, scope.scope("deepstack_merger_list").scope(static_cast<int64_t>(j)),
                         PatchMerger::Norm::AfterShuffle);
  return mergers;
}

void check_inputs(const VisionConfig& c, const at::Tensor& pixel_values, std::span<const GridThw> grids) {
  TRIMVL_CHECK_ARG(!grids.empty(), "no images or videos to encode (no grids)");
  for (const GridThw& g : grids)
    TRIMVL_CHECK_ARG(g.t > 0 && g.h > 0 && g.w > 0 && g.h % c.spatial_merge_size == 0 &&
                         g.w % c.spatial_merge_size == 0,
                     "grid (t {}, h {}, w {}): sides must be positive multiples of the merge size {}", g.t, g.h, g.w,
                     c.spatial_merge_size);
  TRIMVL_CHECK_ARG(pixel_values.defined() && pixel_values.dim() == 2 && at::isFloatingType(pixel_values.scalar_type()),
                   "pixel_values must be a floating-point matrix [patches, {}]", c.patch_dim());
  TRIMVL_CHECK_ARG(pixel_values.size(1) == c.patch_dim(),
                   "pixel_values rows hold {} values; this encoder's patches hold {} ({} channels x {} frames x {} x "
                   "{} pixels): were they made for another model?",
                   pixel_values.size(1), c.patch_dim(), c.in_channels, c.temporal_patch_size, c.patch_size,
                   c.patch_size);
  TRIMVL_CHECK_ARG(pixel_values.size(0) == total_patches(grids),
                   "pixel_values has {} patches but the grids add up to {}", pixel_values.size(0),
                   total_patches(grids));
}

}  // namespace

VisionModel::VisionModel(VisionConfig config, const io::WeightLoader::Scope& scope)
    : config_(std::move(config)),
      patch_embed_(config_, scope.scope("patch_embed")),
      pos_embed_(config_, scope.scope("pos_embed")),
      rotary_(config_),
      blocks_(load_blocks(config_, scope)),
      merger_(config_, scope.scope("merger"), PatchMerger::Norm::BeforeShuffle),
      deepstack_mergers_(load_deepstack(config_, scope)),
      dtype_(pos_embed_.table().scalar_type()),
      device_(pos_embed_.table().device()) {}

VisionModel VisionModel::load(const std::filesystem::path& checkpoint_dir, c10::ScalarType dtype, c10::Device device) {
  VisionConfig config = load_vision_config(checkpoint_dir / "config.json");
  return load(io::SafetensorsCheckpoint::open(checkpoint_dir), std::move(config), dtype, device);
}

VisionModel VisionModel::load(const io::WeightSource& source, VisionConfig config, c10::ScalarType dtype,
                              c10::Device device) {
  io::WeightLoader weights(source, dtype, device);
  VisionModel model(std::move(config), weights.root().scope(kPrefix));
  weights.finish({std::string(kPrefix) + "."});
  return model;
}

VisionOutput VisionModel::forward(const at::Tensor& pixel_values, std::vector<GridThw> grids) const {
  check_inputs(config_, pixel_values, grids);
  c10::InferenceMode no_autograd;
  at::Tensor x = patch_embed_.forward(pixel_values.to(device_, dtype_));
  x = x + pos_embed_.forward(grids);
  const RotaryTables rotary = rotary_.forward(grids, device_);
  const std::vector<SegmentRun> segments = attention_segments(grids);

  VisionOutput out;
  const auto& indexes = config_.deepstack_visual_indexes;
  for (int64_t i = 0; i < config_.depth; ++i) {
    x = blocks_[static_cast<size_t>(i)].forward(x, rotary, segments);
    if (auto it = std::find(indexes.begin(), indexes.end(), i); it != indexes.end())
      out.deepstack.push_back(deepstack_mergers_[static_cast<size_t>(it - indexes.begin())].forward(x));
  }
  out.embeds = merger_.forward(x);
  out.sources = token_sources(grids, config_.spatial_merge_size);
  out.grids = std::move(grids);
  return out;
}

}  // namespace trimvl::vision::qwen3vl
