#include "cache/policies/global_top_k.h"

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

GlobalTopK::GlobalTopK(int64_t budget, int64_t buffer, int64_t min_per_head)
    : budget_(budget), buffer_(buffer), min_per_head_(min_per_head) {
  TRIMVL_CHECK_ARG(budget > 0 && buffer >= 1, "global budget needs M > 0 and B >= 1, got M={} B={}", budget, buffer);
  TRIMVL_CHECK_ARG(min_per_head >= 0 && min_per_head < budget, "global budget: the floor {} must lie in [0, M={})",
                   min_per_head, budget);
}

bool GlobalTopK::due(const CacheState& state) const {
  return state.total() >= int64_t{state.num_layers} * state.num_kv_heads * (budget_ + buffer_);
}

at::Tensor GlobalTopK::select(const Candidates& candidates, const at::Tensor& scores) const {
  const int64_t streams = int64_t{candidates.num_layers} * candidates.num_kv_heads;
  if (min_per_head_ == 0) return keep_top_global(candidates, scores, streams * budget_);
  const at::Tensor shared = keep_top_global(candidates, scores, streams * (budget_ - min_per_head_));
  return keep_top_per_stream(candidates, scores, kept_per_stream(candidates, shared) + min_per_head_);
}

std::optional<int64_t> GlobalTopK::retained_bound(int num_layers, int num_kv_heads) const {
  return int64_t{num_layers} * num_kv_heads * budget_;
}

std::optional<int64_t> GlobalTopK::trigger_bound(int num_layers, int num_kv_heads) const {
  return int64_t{num_layers} * num_kv_heads * (budget_ + buffer_) - 1;
}

}  // namespace trimvl::cache
