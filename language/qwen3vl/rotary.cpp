#include "language/qwen3vl/rotary.h"

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

Rotary::Rotary(const TextConfig& config, c10::Device device) {
  const int64_t dim = config.head_dim, pairs = dim / 2;
  // The same fp32 operations as HF's default rope init, so the frequencies agree bit for bit.
  const at::Tensor exponents = at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim;
  inv_freq_ = at::pow(config.rope_theta, exponents).reciprocal().to(device);
  at::Tensor axis = at::zeros({pairs}, at::kLong);
  auto a = axis.accessor<int64_t, 1>();
  for (int64_t j = 0; j < pairs; ++j) {
    if (j % 3 == 1 && j < 3 * config.mrope_section[1]) a[j] = 1;
    if (j % 3 == 2 && j < 3 * config.mrope_section[2]) a[j] = 2;
  }
  axis_ = axis.to(device);
}

RotaryTables Rotary::tables(const at::Tensor& position_ids, c10::ScalarType dtype) const {
  // [pairs, T] positions, each pair reading its axis' row; then angles position · inv_freq.
  const at::Tensor positions = position_ids.index_select(0, axis_).to(at::kFloat);
  const at::Tensor freqs = positions.t() * inv_freq_;
  const at::Tensor angles = at::cat({freqs, freqs}, -1).unsqueeze(1);
  return {angles.cos().to(dtype), angles.sin().to(dtype)};
}

at::Tensor Rotary::apply(const at::Tensor& x, const RotaryTables& tables) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * tables.cos + rotated * tables.sin;
}

}  // namespace trimvl::qwen3vl
