#pragma once
// A test-local stand-in for the paged cache's side of the policy interface: per-stream vectors of
// retained tokens, packed into Candidates the way policy.h lays them out (stream-major,
// chronological), evicted through a policy, and compacted in order.
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "cache/policy.h"

namespace trimvl::test {

using cache::Candidates;
using cache::CacheState;
using cache::Policy;

struct PackedStreams {
  struct Token {
    int64_t position = 0;
    float log_beta = 0;   // packed as `log_beta_dtype` (bf16, as trimkv stores it)
    float attention = 0;  // packed as both window and accumulated attention
  };

  int num_layers = 0, num_kv_heads = 0;
  int64_t seen = 0;
  at::ScalarType log_beta_dtype = at::kBFloat16;
  std::vector<std::vector<Token>> streams;  // [L·H_kv]

  PackedStreams(int layers, int kv_heads) : num_layers(layers), num_kv_heads(kv_heads), streams(layers * kv_heads) {}

  std::vector<int64_t> lengths() const {
    std::vector<int64_t> out;
    for (const auto& s : streams) out.push_back(static_cast<int64_t>(s.size()));
    return out;
  }

  int64_t total() const {
    int64_t n = 0;
    for (const auto& s : streams) n += static_cast<int64_t>(s.size());
    return n;
  }

  Candidates pack() const {
    Candidates c;
    c.num_layers = num_layers;
    c.num_kv_heads = num_kv_heads;
    c.seen = seen;
    c.lengths = lengths();
    std::vector<int64_t> stream, position;
    std::vector<float> log_beta, attention;
    for (size_t s = 0; s < streams.size(); ++s)
      for (const Token& t : streams[s]) {
        stream.push_back(static_cast<int64_t>(s));
        position.push_back(t.position);
        log_beta.push_back(t.log_beta);
        attention.push_back(t.attention);
      }
    c.stream = at::tensor(stream, at::kLong);
    c.position = at::tensor(position, at::kLong);
    c.log_beta = at::tensor(log_beta, at::kFloat).to(log_beta_dtype);
    c.window_attention = at::tensor(attention, at::kFloat);
    c.accumulated_attention = c.window_attention;
    return c;
  }

  // Applies a keep mask from select(), preserving each stream's order.
  void compact(const at::Tensor& keep) {
    const at::Tensor mask = keep.to(at::kCPU).contiguous();
    const bool* k = mask.data_ptr<bool>();
    for (auto& s : streams) {
      std::vector<Token> kept;
      for (const Token& t : s)
        if (*k++) kept.push_back(t);
      s = std::move(kept);
    }
  }

  // One eviction point: whether the policy was due (and ran).
  bool evict(const Policy& policy, int64_t forward_tokens) {
    const std::vector<int64_t> lens = lengths();
    const CacheState state{num_layers, num_kv_heads, seen, forward_tokens, &lens};
    if (!policy.evicts() || !policy.selector()->due(state)) return false;
    const Candidates candidates = pack();
    compact(policy.selector()->select(candidates, policy.scorer()->score(candidates)));
    return true;
  }

  std::vector<int64_t> positions(size_t stream) const {
    std::vector<int64_t> out;
    for (const Token& t : streams[stream]) out.push_back(t.position);
    return out;
  }
};

}  // namespace trimvl::test
