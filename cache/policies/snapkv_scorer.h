#pragma once
// SnapKV (Li et al. 2024) as a scorer: a token's score is the attention the observation window
// (each layer's last `window` queries, averaged over them and over the kv head's query group) paid
// it, max-pooled along its stream with an odd kernel (SnapKV's max_pool1d, stride 1, padding
// kernel / 2: a stream's ends see fewer neighbours, never another stream's). The window's own
// tokens are always kept and, as in SnapKV, take no part in the pooling of the others.
#include <cstdint>

#include "cache/policy.h"

namespace trimvl::cache {

class SnapKvScorer final : public Scorer {
 public:
  SnapKvScorer(int64_t window, int64_t pool_kernel);
  at::Tensor score(const Candidates& candidates) const override;
  AttentionNeeds needs() const override { return {window_, false}; }

 private:
  int64_t window_, pool_kernel_;
};

}  // namespace trimvl::cache
