#include "cache/policies/per_head_top_k.h"

#include <algorithm>

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

PerHeadTopK::PerHeadTopK(int64_t budget, int64_t buffer) : budget_(budget), buffer_(buffer) {
  TRIMVL_CHECK_ARG(budget > 0 && buffer >= 1, "per-head budget needs M > 0 and B >= 1, got M={} B={}", budget, buffer);
}

bool PerHeadTopK::due(const CacheState& state) const {
  return state.lengths && std::any_of(state.lengths->begin(), state.lengths->end(),
                                      [this](int64_t length) { return length >= budget_ + buffer_; });
}

at::Tensor PerHeadTopK::select(const Candidates& candidates, const at::Tensor& scores) const {
  const at::Tensor length = stream_lengths(candidates);
  return keep_top_per_stream(candidates, scores, at::where(length >= budget_ + buffer_, budget_, length));
}

std::optional<int64_t> PerHeadTopK::retained_bound(int num_layers, int num_kv_heads) const {
  return int64_t{num_layers} * num_kv_heads * budget_;
}

std::optional<int64_t> PerHeadTopK::trigger_bound(int num_layers, int num_kv_heads) const {
  return int64_t{num_layers} * num_kv_heads * (budget_ + buffer_ - 1);
}

}  // namespace trimvl::cache
