#pragma once
// DBTrimKV's fixed global budget (trimkv's PagedTrimKVCache.compress, strategy fixed_budget): once
// the sequence holds L·H_kv·(M + B) tokens in all, the global top-min(L·H_kv·M, N) by score
// survive, wherever they sit — a head may grow, shrink or empty.
//
// With a floor f > 0 (min_tokens_per_head) the reference first takes the global top L·H_kv·(M − f),
// gives each stream its count there plus f, and keeps each stream's own top-min(count, length).
#include <cstdint>
#include <optional>

#include "cache/policy.h"

namespace trimvl::cache {

class GlobalTopK final : public Selector {
 public:
  GlobalTopK(int64_t budget, int64_t buffer, int64_t min_per_head);
  bool due(const CacheState& state) const override;
  at::Tensor select(const Candidates& candidates, const at::Tensor& scores) const override;
  std::optional<int64_t> retained_bound(int num_layers, int num_kv_heads) const override;
  std::optional<int64_t> trigger_bound(int num_layers, int num_kv_heads) const override;

 private:
  int64_t budget_, buffer_, min_per_head_;
};

}  // namespace trimvl::cache
