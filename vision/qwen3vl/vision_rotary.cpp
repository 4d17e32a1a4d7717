#include "vision/qwen3vl/vision_rotary.h"

#include <ATen/ATen.h>

#include "kernels/ops/vision_rope.h"

namespace trimvl::vision::qwen3vl {
namespace {

constexpr double kTheta = 10000.0;

// Full-grid row and column of every patch of an h x w grid, in block order (float32 [h * w]).
std::pair<at::Tensor, at::Tensor> patch_coordinates(const GridThw& g, int64_t m) {
  const at::Tensor block_rows = at::arange(g.h / m).view({-1, 1, 1, 1}) * m;
  const at::Tensor block_cols = at::arange(g.w / m).view({1, -1, 1, 1}) * m;
  const at::Tensor in_block = at::arange(m);
  const std::vector<int64_t> shape = {g.h / m, g.w / m, m, m};
  const at::Tensor rows = (block_rows + in_block.view({1, 1, -1, 1})).expand(shape).reshape({-1});
  const at::Tensor cols = (block_cols + in_block.view({1, 1, 1, -1})).expand(shape).reshape({-1});
  return {rows.to(at::kFloat), cols.to(at::kFloat)};
}

}  // namespace

VisionRotary::VisionRotary(const VisionConfig& c) : merge_size_(c.spatial_merge_size) {
  // 1.0 / (theta ** (arange(0, d, 2, float) / d)): Python's scalar ** tensor is pow(scalar,
  // tensor) and 1.0 / tensor is reciprocal; the same ops give the same float32 frequencies.
  const int64_t d = c.head_dim() / 2;
  inv_freq_ = at::reciprocal(at::pow(kTheta, at::arange(0, d, 2, at::kFloat) / d));
}

RotaryTables VisionRotary::forward(std::span<const GridThw> grids, c10::Device device) const {
  std::vector<at::Tensor> angles;
  angles.reserve(grids.size());
  for (const GridThw& g : grids) {
    const auto [rows, cols] = patch_coordinates(g, merge_size_);
    const at::Tensor half = at::cat({at::outer(rows, inv_freq_), at::outer(cols, inv_freq_)}, 1);  // [h*w, d]
    angles.push_back(half.repeat({g.t, 1}));
  }
  const at::Tensor half = at::cat(angles).to(device);
  const at::Tensor emb = at::cat({half, half}, 1);
  return {emb.cos(), emb.sin()};
}

at::Tensor VisionRotary::apply(const at::Tensor& x, const RotaryTables& tables) {
  const at::Tensor xf = x.to(at::kFloat);
  const int64_t half = xf.size(-1) / 2;
  const at::Tensor rotated = at::cat({-xf.narrow(-1, half, half), xf.narrow(-1, 0, half)}, -1);
  return (xf * tables.cos.unsqueeze(1) + rotated * tables.sin.unsqueeze(1)).to(x.scalar_type());
}

std::pair<at::Tensor, at::Tensor> VisionRotary::apply(const at::Tensor& q, const at::Tensor& k,
                                                     const RotaryTables& tables) {
  if (ops::vision_rope_supported(q, k, tables.cos, tables.sin)) {
    ops::RotatedPair r = ops::vision_rope(q, k, tables.cos, tables.sin);
    return {std::move(r.q), std::move(r.k)};
  }
  return {apply(q, tables), apply(k, tables)};
}

}  // namespace trimvl::vision::qwen3vl
