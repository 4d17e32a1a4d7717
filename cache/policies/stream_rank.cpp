#include "cache/policies/stream_rank.h"

#include <numeric>

#include <ATen/ATen.h>

#include "kernels/ops/cuda_support.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {
namespace {

// A permutation of [0, N): score descending (NaN first: sort treats NaN as the largest value),
// ties to the newer position, then to the packed (stream-major) order. Two stable sorts, the
// tie-breaker first.
at::Tensor rank_order(const at::Tensor& scores, const at::Tensor& position) {
  const at::Tensor by_age = std::get<1>(position.sort(/*stable=*/true, 0, /*descending=*/true));
  const at::Tensor by_score = std::get<1>(scores.index_select(0, by_age).sort(/*stable=*/true, 0, /*descending=*/true));
  return by_age.index_select(0, by_score);
}

// The stream ids, or an empty tensor for candidates packed without any.
at::Tensor stream_ids(const Candidates& c) { return c.stream.defined() ? c.stream : at::empty({0}, at::kLong); }

at::Tensor stream_starts(const Candidates& c) {
  const at::Tensor lengths = stream_lengths(c);
  return lengths.cumsum(0) - lengths;
}

}  // namespace

void check_candidates(const Candidates& c, const at::Tensor& scores) {
  const auto streams = static_cast<size_t>(c.num_layers) * static_cast<size_t>(c.num_kv_heads);
  TRIMVL_CHECK(c.lengths.size() == streams, "candidates: {} stream lengths for {} layers x {} kv heads",
               c.lengths.size(), c.num_layers, c.num_kv_heads);
  const int64_t total = std::accumulate(c.lengths.begin(), c.lengths.end(), int64_t{0});
  TRIMVL_CHECK(total == c.size(), "candidates: stream lengths sum to {} but {} candidates are packed", total, c.size());
  TRIMVL_CHECK(c.size() == 0 || (c.position.defined() && c.position.size(0) == c.size()),
               "candidates: positions missing or not [N]");
  TRIMVL_CHECK(!scores.defined() || (scores.dim() == 1 && scores.size(0) == c.size()),
               "candidates: {} scores for {} candidates", scores.defined() ? scores.numel() : 0, c.size());
}

at::Tensor stream_lengths(const Candidates& c) {
  // Queued behind the work already on the stream, not waiting for it.
  return ops::to_device_async(at::tensor(c.lengths, at::kLong), stream_ids(c).device());
}

at::Tensor index_in_stream(const Candidates& c) {
  const at::Tensor stream = stream_ids(c);
  return at::arange(c.size(), stream.options()) - stream_starts(c).index_select(0, stream);
}

at::Tensor most_recent(const Candidates& c, int64_t count) {
  return index_in_stream(c) >= stream_lengths(c).index_select(0, stream_ids(c)) - count;
}

at::Tensor keep_top_global(const Candidates& c, const at::Tensor& scores, int64_t k) {
  check_candidates(c, scores);
  at::Tensor keep = at::zeros({c.size()}, scores.options().dtype(at::kBool));
  const int64_t n = std::min(k, c.size());
  if (n > 0) keep.index_fill_(0, rank_order(scores, c.position).narrow(0, 0, n), true);
  return keep;
}

at::Tensor keep_top_per_stream(const Candidates& c, const at::Tensor& scores, const at::Tensor& counts) {
  check_candidates(c, scores);
  if (c.size() == 0) return at::zeros({0}, scores.options().dtype(at::kBool));
  at::Tensor order = rank_order(scores, c.position);
  // Regroup by stream, keeping the rank order inside each: the rank of a candidate in its stream
  // is then its offset from the stream's start.
  const at::Tensor by_stream = std::get<1>(c.stream.index_select(0, order).sort(/*stable=*/true, 0, false));
  order = order.index_select(0, by_stream);
  const at::Tensor stream = c.stream.index_select(0, order);
  const at::Tensor rank = at::arange(c.size(), c.stream.options()) - stream_starts(c).index_select(0, stream);
  at::Tensor keep = at::empty({c.size()}, scores.options().dtype(at::kBool));
  keep.index_put_({order}, rank < counts.index_select(0, stream));
  return keep;
}

at::Tensor kept_per_stream(const Candidates& c, const at::Tensor& keep) {
  const auto streams = static_cast<int64_t>(c.lengths.size());
  const at::Tensor stream = stream_ids(c);
  return at::zeros({streams}, stream.options()).index_add_(0, stream, keep.to(at::kLong));
}

}  // namespace trimvl::cache
