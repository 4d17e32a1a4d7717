#pragma once
// DBTrimKV's threshold strategy (trimkv's PagedTrimKVCache.compress, strategy threshold): every
// time the tokens seen reach a multiple of B, keep the tokens scoring ≥ log α, where log α is
// computed in float32 as the reference does (torch.log(torch.tensor(α))). A NaN score fails the
// comparison and is evicted.
//
// With a floor f > 0 the reference counts each stream's survivors, raises the count to at least
// f, and then keeps each stream's top-min(count, length) by score — the per-stream top-count, not
// the threshold's survivors (the same set whenever the floor does not bind and no score is NaN).
// We copy that.
//
// The retained size depends on the data, so there is no bound to size a pool by.
#include <cstdint>
#include <optional>

#include "cache/policy.h"

namespace trimvl::cache {

class ThresholdSelector final : public Selector {
 public:
  ThresholdSelector(double alpha, int64_t buffer, int64_t min_per_head);
  bool due(const CacheState& state) const override;
  at::Tensor select(const Candidates& candidates, const at::Tensor& scores) const override;
  std::optional<int64_t> retained_bound(int, int) const override { return std::nullopt; }
  std::optional<int64_t> trigger_bound(int, int) const override { return std::nullopt; }

  float log_alpha() const { return log_alpha_; }

 private:
  float log_alpha_;
  int64_t buffer_, min_per_head_;
};

}  // namespace trimvl::cache
