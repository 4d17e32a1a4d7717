#pragma once
// TrimKV's eviction score (DESIGN §1): how much of a token's retention is left when the next
// queries arrive. trimkv 0.1.5 (cache_utils.py) scores in float32 from the stored (bf16) log β:
//   lookahead 1:  log β · (seen + 1 − pos)
//   lookahead n:  log Σ_{k<n} β^(seen + 2 − pos + k) = a·log β + log1mexp(n·log β) − log1mexp(log β),
//                 a = seen + 2 − pos (compute_log_G), NaN when log β == 0 exactly
// with seen the tokens seen including the forward just finished and pos the stream position.
#include <cstdint>

#include <ATen/core/Tensor.h>

#include "cache/policy.h"

namespace trimvl::cache {

// [N] float32 scores of tokens with retention `log_beta` ([N], any floating dtype) at stream
// positions `position` ([N] int64), `seen` tokens into the stream.
at::Tensor retention_score(const at::Tensor& log_beta, const at::Tensor& position, int64_t seen, int64_t lookahead);

// The retention score; with window W > 0 each stream's last W tokens score +inf (trimkv's
// sliding_window_size).
class RetentionScorer final : public Scorer {
 public:
  RetentionScorer(int64_t lookahead, int64_t window);
  at::Tensor score(const Candidates& candidates) const override;
  bool needs_gates() const override { return true; }

 private:
  int64_t lookahead_, window_;
};

}  // namespace trimvl::cache
