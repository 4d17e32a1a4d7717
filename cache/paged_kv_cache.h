#pragma once
// The bounded KV cache (DESIGN §1–§3): K/V of every (layer, kv-head) in a paged pool, a token
// metadata table, and an eviction policy that runs once per forward, after all layers.
//
// Storage: one pool of fixed-size blocks shared by all layers and heads (K, V [blocks, block_size,
// D] in the model dtype; beside them each slot's stream position (int64), log β (model dtype) and,
// for H2O, accumulated attention (float32)). Each (layer, kv-head) — a stream — owns a block table
// and a length; it may hold any number of tokens, zero included. A free list hands out blocks;
// eviction compacts each stream's survivors to its front, preserving chronological order, and
// returns the emptied tail blocks. A bounded policy sizes the pool once from its budget, buffer and
// the largest forward it will see, and never grows past it; an unbounded one (full, threshold)
// grows it by doubling.
//
// Attention (attend) runs over each stream's retained tokens plus the forward's new ones, causal
// among the new ones; a stream that is empty still attends to the new tokens. This file's
// implementation is the ATen reference the CUDA kernels of kernels/ must match.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "cache/kv_cache.h"
#include "cache/observer.h"
#include "cache/policy.h"

namespace trimvl::cache {

struct PagedCacheOptions {
  int num_layers = 0;
  int num_kv_heads = 0;
  int64_t head_dim = 0;
  c10::ScalarType dtype = c10::kBFloat16;
  c10::Device device = c10::Device(c10::kCPU);
  int64_t block_size = 16;              // tokens per block (ARCHITECTURE.md says why 16)
  int64_t max_forward_tokens = 0;       // the largest forward (prefill chunk) to size a bounded
                                        // pool for; 0: unknown, the pool grows on demand
  int64_t max_stream_tokens = 0;        // the most tokens a stream can ever see (the model's
                                        // context); caps a bounded pool whose budget exceeds it.
                                        // 0: no cap
};

class PagedKvCache final : public KvCache {
 public:
  PagedKvCache(const PagedCacheOptions& options, std::shared_ptr<const Policy> policy);
  ~PagedKvCache() override;

  int num_layers() const override;
  int64_t seen_tokens() const override;
  void begin_forward(const ForwardTokens& tokens) override;
  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& log_beta, double scale) override;
  void end_forward() override;  // commits, then evicts when the policy says so
  // Whether end_forward() of the open forward will evict (host arithmetic on the lengths).
  bool evicts_at_end_forward() const;
  void abort_forward() noexcept override;
  void reset() override;
  // One-token forwards on CUDA run on the kernels of kernels/ops/paged_attention.h (policies that
  // need no attention statistics: full, trimkv, dbtrimkv, streaming); those forwards have a key.
  std::optional<uint64_t> graph_key() const override;
  void replayed() override;

  const Policy& policy() const;
  // Not owned; null detaches. Must outlive the cache or be detached first.
  void set_observer(CacheObserver* observer);
  const CacheCounters& counters() const;

  // The token metadata table: every token seen, indexed by stream position.
  const std::vector<TokenInfo>& tokens() const;
  // Retained tokens per stream, stream-major [L·H_kv].
  const std::vector<int64_t>& lengths() const;
  // One stream's retained tokens, chronological (copies; for tests, traces and tools).
  at::Tensor positions(int layer, int head) const;  // [len] int64, CPU
  at::Tensor keys(int layer, int head) const;       // [len, D]
  at::Tensor values(int layer, int head) const;     // [len, D]
  at::Tensor log_beta(int layer, int head) const;   // [len], undefined when no gate ran

  int64_t block_size() const;
  int64_t pool_blocks() const;  // allocated
  int64_t free_blocks() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trimvl::cache
