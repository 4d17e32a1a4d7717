#include "cache/policies/threshold_selector.h"

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

ThresholdSelector::ThresholdSelector(double alpha, int64_t buffer, int64_t min_per_head)
    : buffer_(buffer), min_per_head_(min_per_head) {
  TRIMVL_CHECK_ARG(alpha > 0 && alpha < 1, "threshold: alpha must lie in (0, 1), got {}", alpha);
  TRIMVL_CHECK_ARG(buffer >= 1, "threshold: B must be at least 1, got {}", buffer);
  TRIMVL_CHECK_ARG(min_per_head >= 0, "threshold: the floor must not be negative, got {}", min_per_head);
  // float32 α, float32 log, as the reference computes it (a CPU scalar: no device involved).
  log_alpha_ = at::log(at::scalar_tensor(alpha, at::kFloat)).item<float>();
}

bool ThresholdSelector::due(const CacheState& state) const { return state.seen % buffer_ == 0; }

at::Tensor ThresholdSelector::select(const Candidates& candidates, const at::Tensor& scores) const {
  check_candidates(candidates, scores);
  const at::Tensor above = scores >= static_cast<double>(log_alpha_);
  if (min_per_head_ == 0) return above;
  return keep_top_per_stream(candidates, scores, kept_per_stream(candidates, above).clamp_min(min_per_head_));
}

}  // namespace trimvl::cache
