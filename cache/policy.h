#pragma once
// Eviction policies (DESIGN §1): what a bounded KV cache keeps. A policy scores the retained tokens
// of one sequence, then selects the survivors (kvpress's score-then-select split), so scorers and
// selectors compose: TrimKV is the retention scorer (plus a recent-window keep) under a per-head
// top-M; DBTrimKV the same scorer under one global top-K or a threshold; the baselines swap the
// scorer.
//
// Budget semantics (one definition everywhere: CLI, traces, eval):
//   - The budget M counts tokens per (layer, kv-head) — KV heads, not query heads: a GQA group of
//     query heads shares its kv head's tokens.
//   - Per-head policies (trimkv, streaming, snapkv, h2o) keep each (layer, kv-head) at M tokens,
//     evicting once a layer reaches M + B (B = buffer), so a head holds between M and M + B − 1
//     tokens between forwards.
//   - dbtrimkv keeps ONE global budget of L·H_kv·M tokens per sequence, shared by layers, heads and
//     modalities: once the total reaches L·H_kv·(M + B) a global top-(L·H_kv·M) decides (heads may
//     grow, shrink or empty); `threshold` instead keeps every token scoring ≥ log α every B tokens.
//   - A budget larger than what the stream ever holds means no eviction, not an error.
//
// Candidates are packed stream-major: stream s = layer · H_kv + head, chronological inside a
// stream. Everything a policy returns is on the candidates' device; no host synchronisation is
// needed to score, and selection synchronises only where the result's size depends on data
// (top-k sizes are host-known; thresholds are not).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::cache {

enum class PolicyKind { Full, TrimKV, DBTrimKV, StreamingLLM, SnapKV, H2O };
enum class BudgetStrategy { FixedBudget, Threshold };

std::string_view policy_name(PolicyKind kind);      // full | trimkv | dbtrimkv | streaming | snapkv | h2o
PolicyKind parse_policy(std::string_view name);     // throws InvalidInput listing the choices
std::string_view strategy_name(BudgetStrategy strategy);  // fixed_budget | threshold
BudgetStrategy parse_strategy(std::string_view name);

// Everything the command line can say about a cache policy. Fields a policy does not use are
// ignored; validate() rejects values no policy could use.
struct PolicyOptions {
  PolicyKind kind = PolicyKind::Full;
  int64_t budget = 0;           // M: tokens per (layer, kv-head); required (> 0) unless needs_budget() is false
  int64_t buffer = 128;         // B: slack tokens per head before an eviction runs (≥ 1)
  BudgetStrategy strategy = BudgetStrategy::FixedBudget;  // dbtrimkv
  double alpha = 0.8;           // dbtrimkv threshold: keep scores ≥ log α; α in (0, 1)
  int64_t min_per_head = 0;     // dbtrimkv floor per (layer, kv-head); < budget
  int64_t lookahead = 1;        // trimkv/dbtrimkv: score over the next n steps (≥ 1)
  int64_t window = 0;           // trimkv: always keep each head's last W tokens; snapkv: observation
                                // window (default 32); h2o: recent tokens always kept
  int64_t sinks = 4;            // streaming: first tokens always kept
  int64_t pool_kernel = 7;      // snapkv: max-pool width over each head's scores (odd)

  // Throws InvalidInput naming the flag for a value out of range (budget ≤ 0 for a bounded
  // policy, α outside (0, 1), buffer/lookahead < 1, min_per_head ≥ budget, ...).
  void validate() const;
  // Whether `budget` is used: every policy but full and dbtrimkv's threshold strategy.
  bool needs_budget() const;

  bool operator==(const PolicyOptions&) const = default;
};

// The host-side state a trigger looks at (no device reads).
struct CacheState {
  int num_layers = 0, num_kv_heads = 0;
  int64_t seen = 0;                   // tokens seen, including the forward just finished
  int64_t forward_tokens = 0;         // tokens the forward just finished appended
  const std::vector<int64_t>* lengths = nullptr;  // [L·H_kv] retained tokens per stream, stream-major
  int64_t total() const;
};

// The retained tokens of one sequence at an eviction point, packed stream-major.
struct Candidates {
  int num_layers = 0, num_kv_heads = 0;
  int64_t seen = 0;            // tokens seen, including the forward just finished
  std::vector<int64_t> lengths;  // [L·H_kv] host copy of the stream lengths (they sum to N)
  at::Tensor stream;           // [N] int64: stream id of each candidate
  at::Tensor position;         // [N] int64: absolute stream position (the token's age origin)
  at::Tensor log_beta;         // [N] model dtype: retention gate output; undefined without gates
  at::Tensor window_attention; // [N] float32: mean attention over the last observation-window
                               // queries and the group's query heads (AttentionNeeds::window > 0)
  at::Tensor accumulated_attention;  // [N] float32: attention summed since the token entered
                                     // (AttentionNeeds::accumulate)
  int64_t size() const { return stream.defined() ? stream.size(0) : 0; }
};

// What a scorer needs the cache to measure during attend(). Attention probabilities are computed
// only for the queries named here — never the full prompt × prompt matrix.
struct AttentionNeeds {
  int64_t window = 0;       // keep the last `window` queries per layer; at eviction, their mean
                            // attention over the candidates (SnapKV's observation window)
  bool accumulate = false;  // add each decode query's attention (and the last `window` prompt
                            // queries') to a per-token sum (H2O)
};

class Scorer {
 public:
  virtual ~Scorer() = default;
  // [N] float32; higher is kept first. +inf forces a keep.
  virtual at::Tensor score(const Candidates& candidates) const = 0;
  virtual AttentionNeeds needs() const { return {}; }
  virtual bool needs_gates() const { return false; }
};

class Selector {
 public:
  virtual ~Selector() = default;
  // Whether an eviction runs after this forward.
  virtual bool due(const CacheState& state) const = 0;
  // [N] bool keep mask; chronological order inside each stream is the cache's job.
  virtual at::Tensor select(const Candidates& candidates, const at::Tensor& scores) const = 0;
  // The most tokens the cache retains between forwards (before the next forward appends), or
  // nullopt when unbounded (threshold, full). Sizes the pool.
  virtual std::optional<int64_t> retained_bound(int num_layers, int num_kv_heads) const = 0;
  // The most tokens held just before an eviction runs (bound + buffer), excluding the forward
  // that triggers it; nullopt when unbounded.
  virtual std::optional<int64_t> trigger_bound(int num_layers, int num_kv_heads) const = 0;
};

// A scorer and a selector, named.
class Policy {
 public:
  Policy(PolicyOptions options, std::unique_ptr<Scorer> scorer, std::unique_ptr<Selector> selector);

  const PolicyOptions& options() const { return options_; }
  std::string describe() const;  // "dbtrimkv fixed_budget M=32 B=128", for logs and traces
  bool evicts() const { return selector_ != nullptr; }
  const Scorer* scorer() const { return scorer_.get(); }
  const Selector* selector() const { return selector_.get(); }

 private:
  PolicyOptions options_;
  std::unique_ptr<Scorer> scorer_;
  std::unique_ptr<Selector> selector_;  // null for Full
};

// Builds the policy `options` names (validated first).
std::shared_ptr<const Policy> make_policy(const PolicyOptions& options);

}  // namespace trimvl::cache
