#pragma once
// TraceRecorder: a cache::CacheObserver that keeps what the cache reports, for one sequence, and
// writes it as a retention trace (app/trace/trace_file.h).
//
//   app::TraceRecorder recorder(header);          // model, policy, shape
//   cache.set_observer(&recorder);
//   ... prefill, decode ...
//   recorder.set_token_table(cache.tokens());
//   recorder.set_counters(cache.counters());
//   recorder.set_text(prompt, answer);
//   recorder.write(path);                          // validated, atomic
//
// Records are copied to host vectors as they arrive; the cache's tensors are not kept.
#include <filesystem>
#include <string>
#include <vector>

#include "app/trace/trace_file.h"
#include "cache/observer.h"

namespace trimvl::app {

struct TraceRecorderOptions {
  int64_t step_stride = 1;      // record every N-th forward's cache state (0: only forwards that evict)
  bool step_positions = false;  // and which positions each stream holds (large: Σ lengths per step)
  // Keep every N-th eviction (by the cache's index). Each stores all its candidates, L·H_kv·(M + B)
  // and more, so a long video prefilled in chunks makes a large trace unless this thins it.
  int64_t event_stride = 1;
};

class TraceRecorder final : public cache::CacheObserver {
 public:
  explicit TraceRecorder(TraceHeader header, TraceRecorderOptions options = {});

  void on_eviction(const cache::EvictionEvent& event) override;
  void on_step(const cache::StepRecord& step) override;
  int64_t step_stride() const override { return options_.step_stride; }
  bool wants_positions() const override { return options_.step_positions; }

  void set_token_table(std::vector<cache::TokenInfo> tokens);
  void set_text(std::string prompt, std::string answer);
  void set_counters(const cache::CacheCounters& counters);

  const Trace& trace() const { return trace_; }
  // Stamps the creation time and trimvl version, validates, writes atomically.
  void write(const std::filesystem::path& path);

 private:
  Trace trace_;
  TraceRecorderOptions options_;
};

}  // namespace trimvl::app
