#include "vision/qwen3vl/patch_embed.h"

namespace trimvl::vision::qwen3vl {

PatchEmbed::PatchEmbed(const VisionConfig& c, const io::WeightLoader::Scope& scope) {
  const io::WeightLoader::Scope proj = scope.scope("proj");
  proj_.weight = proj.take("weight", {c.hidden_size, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size})
                     .view({c.hidden_size, c.patch_dim()});
  proj_.bias = proj.take("bias", {c.hidden_size});
}

}  // namespace trimvl::vision::qwen3vl
