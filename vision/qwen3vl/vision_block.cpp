#include "vision/qwen3vl/vision_block.h"

#include <cmath>

#include <ATen/ATen.h>

namespace trimvl::vision::qwen3vl {

std::vector<SegmentRun> attention_segments(std::span<const GridThw> grids) {
  std::vector<SegmentRun> runs;
  for (const GridThw& g : grids) {
    if (!runs.empty() && runs.back().length == g.h * g.w) runs.back().count += g.t;
    else runs.push_back({g.h * g.w, g.t});
  }
  return runs;
}

VisionBlock::VisionBlock(const VisionConfig& c, const io::WeightLoader::Scope& scope)
    : norm1_(LayerNorm::load(scope.scope("norm1"), c.hidden_size, kLayerNormEps)),
      norm2_(LayerNorm::load(scope.scope("norm2"), c.hidden_size, kLayerNormEps)),
      qkv_(Linear::load(scope.scope("attn.qkv"), c.hidden_size, 3 * c.hidden_size)),
      proj_(Linear::load(scope.scope("attn.proj"), c.hidden_size, c.hidden_size)),
      fc1_(Linear::load(scope.scope("mlp.linear_fc1"), c.hidden_size, c.intermediate_size)),
      fc2_(Linear::load(scope.scope("mlp.linear_fc2"), c.intermediate_size, c.hidden_size)),
      num_heads_(c.num_heads),
      head_dim_(c.head_dim()),
      tanh_gelu_(c.hidden_act == "gelu_pytorch_tanh") {}

at::Tensor VisionBlock::attention(const at::Tensor& x, const RotaryTables& rotary,
                                  std::span<const SegmentRun> segments) const {
  const int64_t n = x.size(0);
  // qkv rows are [all q | all k | all v], each head-major.
  const at::Tensor qkv = qkv_(x).view({n, 3, num_heads_, head_dim_});
  const auto [q, k] = VisionRotary::apply(qkv.select(1, 0), qkv.select(1, 1), rotary);
  const at::Tensor v = qkv.select(1, 2);
  const double scale = std::pow(static_cast<double>(head_dim_), -0.5);  // head_dim**-0.5, as HF

  std::vector<at::Tensor> out;
  out.reserve(segments.size());
  int64_t offset = 0;
  for (const SegmentRun& run : segments) {
    const int64_t rows = run.length * run.count;
    // [rows, heads, d] -> [count, heads, length, d]: one batch entry per segment.
    const auto batch = [&](const at::Tensor& t) {
      return t.narrow(0, offset, rows).view({run.count, run.length, num_heads_, head_dim_}).transpose(1, 2);
    };
    const at::Tensor o = at::scaled_dot_product_attention(batch(q), batch(k), batch(v), /*attn_mask=*/{},
                                                          /*dropout_p=*/0.0, /*is_causal=*/false, scale);
    out.push_back(o.transpose(1, 2).reshape({rows, num_heads_ * head_dim_}));
    offset += rows;
  }
  return proj_(out.size() == 1 ? out[0] : at::cat(out));
}

at::Tensor VisionBlock::forward(const at::Tensor& x, const RotaryTables& rotary,
                                std::span<const SegmentRun> segments) const {
  at::Tensor h = x + attention(norm1_(x), rotary, segments);
  return h + fc2_(at::gelu(fc1_(norm2_(h)), tanh_gelu_ ? "tanh" : "none"));
}

}  // namespace trimvl::vision::qwen3vl
