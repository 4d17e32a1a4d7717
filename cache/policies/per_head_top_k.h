#pragma once
// The per-head budget (trimkv's TrimKVCache.compress, and the baselines): once a stream holds
// M + B tokens it keeps its top-M by score; streams below that keep everything. trimkv decides per
// layer (all heads of a layer share a length there); deciding per stream gives the same result
// and stays right should head lengths ever differ.
#include <cstdint>
#include <optional>

#include "cache/policy.h"

namespace trimvl::cache {

class PerHeadTopK final : public Selector {
 public:
  PerHeadTopK(int64_t budget, int64_t buffer);
  bool due(const CacheState& state) const override;
  at::Tensor select(const Candidates& candidates, const at::Tensor& scores) const override;
  std::optional<int64_t> retained_bound(int num_layers, int num_kv_heads) const override;
  std::optional<int64_t> trigger_bound(int num_layers, int num_kv_heads) const override;

 private:
  int64_t budget_, buffer_;
};

}  // namespace trimvl::cache
