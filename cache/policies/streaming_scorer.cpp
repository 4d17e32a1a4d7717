#include "cache/policies/streaming_scorer.h"

#include <limits>

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

StreamingScorer::StreamingScorer(int64_t sinks) : sinks_(sinks) {
  TRIMVL_CHECK_ARG(sinks >= 0, "streaming: the number of sink tokens must not be negative, got {}", sinks);
}

at::Tensor StreamingScorer::score(const Candidates& candidates) const {
  check_candidates(candidates);
  const at::Tensor index = index_in_stream(candidates);
  return index.to(at::kFloat).masked_fill_(index < sinks_, std::numeric_limits<float>::infinity());
}

}  // namespace trimvl::cache
