#include "cache/paged_attention.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "kernels/ops/cuda_support.h"

namespace trimvl::cache {
namespace {

// Bound on H_q · queries · W for one masked SDPA call: a long prefill over streams of different
// lengths is split into query chunks, so neither the mask nor the score matrix of SDPA's math
// fallback is ever T × W per head.
constexpr int64_t kMaskElements = int64_t{1} << 26;

// [n, H_q, D] → [H_kv, G, n, D]: each kv head a batch entry, its group's query heads the SDPA heads.
at::Tensor group_queries(const at::Tensor& q, int64_t kv_heads) {
  const int64_t n = q.size(0), d = q.size(2);
  return q.reshape({n, kv_heads, q.size(1) / kv_heads, d}).permute({1, 2, 0, 3});
}

bool uniform(const std::vector<int64_t>& lengths) {
  return std::all_of(lengths.begin(), lengths.end(), [&](int64_t l) { return l == lengths.front(); });
}

// [H_kv or 1, 1, 1, 1]: how many retained entries precede the new tokens in each row.
at::Tensor retained_counts(const std::vector<int64_t>& lengths, int64_t new_tokens, const at::Device& device) {
  if (uniform(lengths)) return at::full({1, 1, 1, 1}, lengths.front() - new_tokens, at::TensorOptions(device).dtype(at::kLong));
  at::Tensor counts = ops::to_device_async(at::tensor(lengths, at::kLong).sub_(new_tokens), device);
  return counts.view({-1, 1, 1, 1});
}

// Row h's entries visible to new tokens first..first+n−1: entry j is visible to new token i when
// j < retained_h + i + 1. [H_kv or 1, 1, n, W].
at::Tensor new_token_mask(const at::Tensor& retained, int64_t first, int64_t n, int64_t width) {
  const auto longs = at::TensorOptions(retained.device()).dtype(at::kLong);
  const at::Tensor columns = at::arange(width, longs).view({1, 1, 1, width});
  const at::Tensor rows = at::arange(first, first + n, longs).view({1, 1, n, 1});
  return columns < retained + rows + 1;
}

// softmax(q·kᵀ·scale) in float32 over the visible keys, zero elsewhere: [H_kv, G, n, W].
at::Tensor probabilities(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& visible, double scale) {
  const at::Tensor query = group_queries(q, keys.size(0)).to(at::kFloat);
  const at::Tensor key = keys.to(at::kFloat).unsqueeze(1);  // [H_kv, 1, W, D]
  at::Tensor scores = at::matmul(query, key.transpose(-1, -2)).mul_(scale);
  scores.masked_fill_(visible.logical_not(), -std::numeric_limits<float>::infinity());
  // A row with no visible key is all -inf and softmaxes to NaN; it contributes nothing.
  return at::softmax(scores, -1).masked_fill_(visible.logical_not(), 0.0);
}

}  // namespace

at::Tensor attend_new_tokens(const at::Tensor& q, const at::Tensor& keys, const at::Tensor& values,
                             const std::vector<int64_t>& lengths, double scale) {
  const int64_t t = q.size(0), hq = q.size(1), d = q.size(2), h = keys.size(0), width = keys.size(1);
  const bool gqa = hq != h;
  const at::Tensor query = group_queries(q, h);
  const at::Tensor key = keys.unsqueeze(1), value = values.unsqueeze(1);  // [H_kv, 1, W, D]
  at::Tensor out;  // [H_kv, G, T, D]
  if (uniform(lengths) && (t == 1 || lengths.front() == t)) {
    // Every row full: a decode step sees all of it; a first forward is plain causal attention
    // (SDPA's top-left causal triangle is right because the row holds only the new tokens).
    out = at::scaled_dot_product_attention(query, key, value, std::nullopt, 0.0, /*is_causal=*/t > 1, scale, gqa);
  } else {
    const at::Tensor retained = retained_counts(lengths, t, q.device());
    const int64_t chunk = std::max<int64_t>(1, kMaskElements / (hq * width));
    std::vector<at::Tensor> parts;
    for (int64_t first = 0; first < t; first += chunk) {
      const int64_t n = std::min(chunk, t - first);
      const at::Tensor mask = new_token_mask(retained, first, n, width);
      parts.push_back(at::scaled_dot_product_attention(query.narrow(2, first, n), key, value, mask, 0.0,
                                                       /*is_causal=*/false, scale, gqa));
    }
    out = parts.size() == 1 ? parts.front() : at::cat(parts, 2);
  }
  return out.permute({2, 0, 1, 3}).reshape({t, hq, d});
}

at::Tensor new_token_attention_mass(const at::Tensor& q_last, int64_t new_tokens, const at::Tensor& keys,
                                    const std::vector<int64_t>& lengths, double scale) {
  const int64_t n = q_last.size(0);
  const at::Tensor retained = retained_counts(lengths, new_tokens, q_last.device());
  const at::Tensor visible = new_token_mask(retained, new_tokens - n, n, keys.size(1));
  return probabilities(q_last, keys, visible, scale).sum({1, 2});
}

at::Tensor windowed_attention_mean(const at::Tensor& q, const at::Tensor& q_position, const at::Tensor& keys,
                                   const at::Tensor& key_position, double scale) {
  const int64_t n = q.size(0), h = keys.size(0);
  const at::Tensor visible = key_position.view({h, 1, 1, -1}) <= q_position.view({1, 1, n, 1});
  const at::Tensor p = probabilities(q, keys, visible, scale);
  return p.sum({1, 2}).div_(static_cast<double>(p.size(1) * n));
}

}  // namespace trimvl::cache
