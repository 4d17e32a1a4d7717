#pragma once
// What the cache keeps, as it happens (DESIGN §3 step 4): a listener the paged cache calls at each
// eviction and, when asked, every N-th forward. Traces (app/trace) and the studio's live views are
// observers. With no observer attached the cache builds none of these records, so listening costs
// nothing and adds no host synchronisation to a decode step; an attached observer pays one copy to
// the host per record.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Tensor.h>

#include "cache/kv_cache.h"

namespace trimvl::cache {

inline constexpr size_t kModalities = 4;  // Modality's values
using ModalityCounts = std::array<int64_t, kModalities>;  // indexed by Modality

// One eviction: every candidate (stream-major, chronological inside a stream) with its score and
// whether it survived. Tensors are on the CPU.
struct EvictionEvent {
  int64_t index = 0;           // 0, 1, ... per sequence (reset() starts over)
  int64_t forward = 0;         // the forward after which it ran (0-based count of forwards)
  int64_t seen = 0;            // tokens seen at that point
  int num_layers = 0, num_kv_heads = 0;
  std::vector<int64_t> lengths_before, lengths_after;  // [L·H_kv]
  at::Tensor stream;    // [N] int64
  at::Tensor position;  // [N] int64: stream positions (rows of the token table)
  at::Tensor score;     // [N] float32: the policy's score (+inf = forced keep)
  at::Tensor kept;      // [N] bool
  ModalityCounts kept_by_modality{}, evicted_by_modality{};
};

// After a forward (every `step_stride()`-th one, and always after one that evicted): what each
// (layer, kv-head) holds. `positions` is filled only when the observer asks for it.
struct StepRecord {
  int64_t forward = 0;
  int64_t seen = 0;
  std::vector<int64_t> lengths;  // [L·H_kv]
  ModalityCounts cached_by_modality{};
  int64_t cached_tokens = 0;
  int64_t kv_bytes = 0;          // K and V bytes the retained tokens take
  at::Tensor positions;          // [Σ lengths] int64 stream-major, when wants_positions()
};

class CacheObserver {
 public:
  virtual ~CacheObserver() = default;
  virtual void on_eviction(const EvictionEvent&) {}
  virtual void on_step(const StepRecord&) {}
  // Record every N-th forward (0: only forwards that evicted).
  virtual int64_t step_stride() const { return 0; }
  virtual bool wants_positions() const { return false; }
};

// Running totals every cache keeps (host arithmetic only).
struct CacheCounters {
  int64_t forwards = 0;
  int64_t evictions = 0;
  int64_t cached_tokens = 0;       // now, summed over (layer, kv-head)
  int64_t peak_cached_tokens = 0;  // the most held at once, counting a forward's new tokens
  int64_t kv_bytes = 0, peak_kv_bytes = 0;
  double cache_ratio_sum = 0;      // Σ over forwards of cached / (L·H_kv·seen)
  // Mean over forwards of retained / (L·H_kv·seen): KV heads, unlike the reference harness's
  // mean_cache_ratio, which divides by query heads and so understates it by H_q / H_kv.
  double mean_cache_ratio() const { return forwards ? cache_ratio_sum / static_cast<double>(forwards) : 0.0; }
};

}  // namespace trimvl::cache
