#include "vision/qwen3vl/position_embedding.h"

#include <ATen/ATen.h>

namespace trimvl::vision::qwen3vl {
namespace {

// One axis of the resampling: for n target positions, the lower and upper table index and the
// fractional distance to the lower one, computed as 4.57 does (float32 linspace, truncation).
struct Axis {
  at::Tensor lower, upper, frac;  // int32, int32, float32 [n]
};

Axis axis(int64_t n, int64_t side) {
  const at::Tensor pos = at::linspace(0, side - 1, n, at::kFloat);
  const at::Tensor lower = pos.to(at::kInt);
  return {lower, (lower + 1).clamp_max(side - 1), pos - lower};
}

}  // namespace

PositionEmbedding::PositionEmbedding(const VisionConfig& c, const io::WeightLoader::Scope& scope)
    : table_(scope.take("weight", {c.num_position_embeddings, c.hidden_size})),
      side_(c.position_grid_side()),
      merge_size_(c.spatial_merge_size) {}

at::Tensor PositionEmbedding::forward(std::span<const GridThw> grids) const {
  std::vector<at::Tensor> out;
  out.reserve(grids.size());
  for (const GridThw& g : grids) {
    const Axis rows = axis(g.h, side_), cols = axis(g.w, side_);
    // Taps (lower row, lower col), (lower, upper), (upper, lower), (upper, upper), each [h * w]
    // row-major, with weights (1-dr)(1-dc), (1-dr)dc, dr(1-dc), dr dc.
    const auto outer_sum = [](const at::Tensor& r, const at::Tensor& c) { return (r.unsqueeze(1) + c).flatten(); };
    const auto outer_mul = [](const at::Tensor& r, const at::Tensor& c) { return (r.unsqueeze(1) * c).flatten(); };
    const at::Tensor lower_r = rows.lower * side_, upper_r = rows.upper * side_;
    const at::Tensor index = at::stack({outer_sum(lower_r, cols.lower), outer_sum(lower_r, cols.upper),
                                        outer_sum(upper_r, cols.lower), outer_sum(upper_r, cols.upper)});
    const at::Tensor one_r = 1 - rows.frac, one_c = 1 - cols.frac;
    const at::Tensor weight = at::stack({outer_mul(one_r, one_c), outer_mul(one_r, cols.frac),
                                         outer_mul(rows.frac, one_c), outer_mul(rows.frac, cols.frac)});
    const at::Tensor taps = at::embedding(table_, index.to(table_.device(), at::kLong)) *
                            weight.to(table_.device(), table_.scalar_type()).unsqueeze(-1);  // [4, h*w, D]
    const at::Tensor grid = taps[0] + taps[1] + taps[2] + taps[3];                       // [h*w, D]
    const int64_t m = merge_size_;
    out.push_back(grid.view({g.h / m, m, g.w / m, m, -1})
                      .permute({0, 2, 1, 3, 4})
                      .reshape({g.h * g.w, -1})
                      .repeat({g.t, 1}));
  }
  return at::cat(out);
}

}  // namespace trimvl::vision::qwen3vl
