#include "tests/app/trace_fixture.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <ATen/ATen.h>

#include "app/trace/trace_recorder.h"

namespace trimvl::test {
namespace {

using cache::Modality;

constexpr int kLayers = 2, kHeads = 2, kStreams = kLayers * kHeads;
constexpr int64_t kBudget = 32, kHeadDim = 8;

cache::TokenInfo token(int64_t p) {
  if (p >= kImageBegin && p < kImageEnd) {
    const auto i = static_cast<int32_t>(p - kImageBegin);
    return {.modality = Modality::Image, .token_id = 151655, .media = 0, .t = 0, .row = i / 20, .col = i % 20};
  }
  return {.modality = p >= kGeneratedBegin ? Modality::Generated : Modality::Text,
          .token_id = static_cast<int32_t>(1000 + p)};
}

// A retention gate's log β, varying by stream and token (so that streams keep different tokens).
double log_beta(int stream, int64_t p) { return -0.002 - 0.01 * std::abs(std::sin(0.37 * p + 1.3 * stream)); }

at::Tensor longs(const std::vector<int64_t>& v) { return at::tensor(v, at::kLong); }

}  // namespace

app::Trace synthetic_trace() {
  app::TraceHeader header{.model = "synthetic/tiny-vl",
                          .policy_description = "dbtrimkv fixed_budget M=32 B=16",
                          .policy = {.kind = cache::PolicyKind::DBTrimKV, .budget = kBudget, .buffer = 16},
                          .num_layers = kLayers,
                          .num_kv_heads = kHeads,
                          .head_dim = kHeadDim,
                          .dtype = "bf16",
                          .block_size = 16};
  app::TraceRecorder recorder(header);
  std::vector<std::vector<int64_t>> held(kStreams);  // positions each stream holds
  std::vector<cache::TokenInfo> tokens;
  cache::CacheCounters counters;
  // Forwards: a 128-token chunk, the rest of the prompt, then one generated token each.
  std::vector<int64_t> forward_sizes = {128, kGeneratedBegin - 128};
  forward_sizes.resize(forward_sizes.size() + (kTraceTokens - kGeneratedBegin), 1);
  const std::vector<int64_t> evict_after = {1, 21, 41};
  int64_t seen = 0, events = 0;
  for (size_t f = 0; f < forward_sizes.size(); ++f) {
    for (int64_t p = seen; p < seen + forward_sizes[f]; ++p) {
      tokens.push_back(token(p));
      for (auto& stream : held) stream.push_back(p);
    }
    seen += forward_sizes[f];
    const auto forward = static_cast<int64_t>(f);
    if (std::ranges::find(evict_after, forward) != evict_after.end()) {
      cache::EvictionEvent event;
      event.index = events++;
      event.forward = forward;
      event.seen = seen;
      event.num_layers = kLayers;
      event.num_kv_heads = kHeads;
      std::vector<int64_t> stream, position;
      std::vector<float> score;
      for (int s = 0; s < kStreams; ++s) {
        event.lengths_before.push_back(std::ssize(held[s]));
        for (int64_t p : held[s]) {
          stream.push_back(s);
          position.push_back(p);
          // Stream 0 keeps its newest 4 tokens whatever they score (a recent window: +inf).
          score.push_back(s == 0 && p >= seen - 4 ? std::numeric_limits<float>::infinity()
                                                  : static_cast<float>(log_beta(s, p) * double(seen + 1 - p)));
        }
      }
      // The global top-(L·H·M) survives.
      std::vector<size_t> order(score.size());
      std::iota(order.begin(), order.end(), size_t{0});
      std::ranges::stable_sort(order, [&](size_t a, size_t b) { return score[a] > score[b]; });
      std::vector<uint8_t> kept(score.size(), 0);
      for (size_t i = 0; i < std::min<size_t>(order.size(), kStreams * kBudget); ++i) kept[order[i]] = 1;
      for (auto& stream_held : held) stream_held.clear();
      for (size_t c = 0; c < kept.size(); ++c) {
        if (kept[c]) held[static_cast<size_t>(stream[c])].push_back(position[c]);
        ++(kept[c] ? event.kept_by_modality
                   : event.evicted_by_modality)[static_cast<size_t>(tokens[static_cast<size_t>(position[c])].modality)];
      }
      for (const auto& stream_held : held) event.lengths_after.push_back(std::ssize(stream_held));
      event.stream = longs(stream);
      event.position = longs(position);
      event.score = at::tensor(score, at::kFloat);
      event.kept = at::tensor(std::vector<int64_t>(kept.begin(), kept.end()), at::kLong).to(at::kBool);
      recorder.on_eviction(event);
      ++counters.evictions;
    }
    cache::StepRecord step;
    step.forward = forward;
    step.seen = seen;
    for (const auto& stream_held : held) {
      step.lengths.push_back(std::ssize(stream_held));
      for (int64_t p : stream_held) ++step.cached_by_modality[static_cast<size_t>(tokens[p].modality)];
      step.cached_tokens += std::ssize(stream_held);
    }
    step.kv_bytes = step.cached_tokens * 2 * kHeadDim * 2;
    recorder.on_step(step);
    ++counters.forwards;
    counters.cached_tokens = step.cached_tokens;
    counters.peak_cached_tokens = std::max(counters.peak_cached_tokens, step.cached_tokens);
    counters.kv_bytes = step.kv_bytes;
    counters.peak_kv_bytes = std::max(counters.peak_kv_bytes, step.kv_bytes);
    counters.cache_ratio_sum += static_cast<double>(step.cached_tokens) / double(kStreams * seen);
  }
  recorder.set_token_table(tokens);
  recorder.set_counters(counters);
  recorder.set_text("Describe the picture.", "A red square on a grey field.");
  app::Trace trace = recorder.trace();
  trace.created = "2026-11-23T00:00:00Z";
  trace.trimvl_version = "test";
  return trace;
}

}  // namespace trimvl::test
