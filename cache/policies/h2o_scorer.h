#pragma once
// H2O (Zhang et al. 2023, heavy hitters) as a scorer: a token's score is the attention it has
// accumulated since it entered the cache; the last max(window, 1) tokens of each stream are always
// kept. The reference H2O keeps exactly the newest token (window 1); a wider window is the usual
// "heavy hitters + recent" split, and window 0 means the reference's 1.
#include <cstdint>

#include "cache/policy.h"

namespace trimvl::cache {

class H2OScorer final : public Scorer {
 public:
  explicit H2OScorer(int64_t window);
  at::Tensor score(const Candidates& candidates) const override;
  AttentionNeeds needs() const override { return {window_, true}; }

 private:
  int64_t window_;
};

}  // namespace trimvl::cache
