#pragma once
// StreamingLLM (Xiao et al. 2023) as a scorer: each stream keeps its first `sinks` tokens (the
// attention sinks) and otherwise its most recent ones. Under the per-head top-M that leaves the
// sinks plus the last M − sinks tokens.
#include <cstdint>

#include "cache/policy.h"

namespace trimvl::cache {

class StreamingScorer final : public Scorer {
 public:
  explicit StreamingScorer(int64_t sinks);
  // The token's index inside its stream (order-equivalent to its position, and exact in float32
  // however long the stream); the first `sinks` score +inf.
  at::Tensor score(const Candidates& candidates) const override;

 private:
  int64_t sinks_;
};

}  // namespace trimvl::cache
