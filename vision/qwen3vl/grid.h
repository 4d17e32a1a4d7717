#pragma once
// The patch grid of one image or video, the unit the Qwen3-VL processors emit and the encoder
// consumes (HF's grid_thw rows), and where each merged visual token comes from.
//
// Patch order inside one temporal group (processor, encoder and merger all share it): 2 x 2 merge
// blocks row-major, and within a block its patches row-major, i.e. for merge size m the patch at
// (row, col) is at index ((row/m * w/m + col/m) * m + row%m) * m + col%m; temporal groups outermost.
// The merger turns each run of m*m consecutive patches into one token, so tokens are row-major in
// the merged grid.
#include <cstdint>
#include <span>
#include <vector>

namespace trimvl::vision::qwen3vl {

struct GridThw {
  int64_t t = 0;  // temporal groups: 1 for an image, ceil(frames / temporal_patch_size) for a video
  int64_t h = 0;  // patch rows (a multiple of the merge size)
  int64_t w = 0;  // patch columns (a multiple of the merge size)
  int64_t patches() const { return t * h * w; }
  bool operator==(const GridThw&) const = default;
};

int64_t total_patches(std::span<const GridThw> grids);

// Where a merged token came from, for overlays. `row`, `col` are in merged-token units: the token
// covers patch rows [row*m, row*m + m) and columns [col*m, col*m + m) of the resized frame.
struct TokenSource {
  int32_t item = 0;  // index of the image or video among the grids of the encoder call
  int32_t t = 0;     // temporal group (0 for an image); a video's group timestamps give its time
  int32_t row = 0, col = 0;
  bool operator==(const TokenSource&) const = default;
};

// One entry per merged token, in the encoder's output order.
std::vector<TokenSource> token_sources(std::span<const GridThw> grids, int64_t merge_size);

}  // namespace trimvl::vision::qwen3vl
