#include "vision/qwen3vl/grid.h"

namespace trimvl::vision::qwen3vl {

int64_t total_patches(std::span<const GridThw> grids) {
  int64_t total = 0;
  for (const GridThw& g : grids) total += g.patches();
  return total;
}

std::vector<TokenSource> token_sources(std::span<const GridThw> grids, int64_t merge_size) {
  std::vector<TokenSource> sources;
  sources.reserve(static_cast<size_t>(total_patches(grids) / (merge_size * merge_size)));
  for (size_t item = 0; item < grids.size(); ++item) {
    const GridThw& g = grids[item];
    for (int64_t t = 0; t < g.t; ++t)
      for (int64_t row = 0; row < g.h / merge_size; ++row)
        for (int64_t col = 0; col < g.w / merge_size; ++col)
          sources.push_back({static_cast<int32_t>(item), static_cast<int32_t>(t), static_cast<int32_t>(row),
                             static_cast<int32_t>(col)});
  }
  return sources;
}

}  // namespace trimvl::vision::qwen3vl
