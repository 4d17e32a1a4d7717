#include "cache/policies/h2o_scorer.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

H2OScorer::H2OScorer(int64_t window) : window_(window) {
  TRIMVL_CHECK_ARG(window >= 0, "h2o: the recent window must not be negative, got {}", window);
}

at::Tensor H2OScorer::score(const Candidates& candidates) const {
  check_candidates(candidates);
  TRIMVL_CHECK(candidates.size() == 0 || candidates.accumulated_attention.defined(),
               "h2o scores need the accumulated attention, and the candidates carry none");
  if (candidates.size() == 0) return at::empty({0}, at::kFloat);
  return candidates.accumulated_attention.to(at::kFloat).masked_fill(
      most_recent(candidates, std::max<int64_t>(window_, 1)), std::numeric_limits<float>::infinity());
}

}  // namespace trimvl::cache
