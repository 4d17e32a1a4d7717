#pragma once
// One line of a samples file: what lmms-eval writes per document, plus the KV facts of the run.
//
//   {"doc_id": 3, "input": "How many ...?", "target": "4", "answers": ["4", "four"],
//    "resps": ["There are 4 circles."], "filtered_resps": "4",
//    "exact_match": 1.0, "anls": 1.0,                          <- one key per metric, as lmms-eval
//    "kv_policy": "dbtrimkv", "kv_budget": 64,                 <- null budget for full
//    "kv_peak_bytes": 1048576, "kv_kept_tokens": {"text": 12, "image": 40, "video": 0, "generated": 9},
//    "ttft_s": 0.21, "tokens_per_s": 48.5, "prompt_tokens": 310, "generated_tokens": 9,
//    "trace": "traces/counting-3-dbtrimkv-M64.trace.safetensors",   <- only with --trace
//    "key": "3"}                                               <- the journal's (sample_journal.h)
//
// lmms-eval (≥ 0.7, evaluation_tracker.save_results_samples) writes `target` as a string and, with
// one request per document, `resps` as the list of raw responses and `filtered_resps` as the one
// filtered answer; it drops `resps` when it equals `filtered_resps`, we always keep both. Several
// acceptable answers are listed in "answers" and `target` is then their JSON array as text.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

// Cached tokens by modality at the end of the sample (what the policy kept).
struct KeptTokens {
  int64_t text = 0, image = 0, video = 0, generated = 0;
  bool operator==(const KeptTokens&) const = default;
};

struct SampleRecord {
  int64_t doc_id = 0;                // the sample's index in its task (0-based, dataset order)
  std::string input;                 // the prompt's text (the question, or the last user turn)
  std::vector<std::string> answers;  // acceptable answers; empty for a sample without one
  std::string response;              // the model's raw answer (resps)
  std::string filtered;              // what scoring compared (filtered_resps): the extracted letter, ...
  std::vector<std::pair<std::string, double>> metrics;  // name → per-sample value
  KvConfig config;
  int64_t peak_kv_bytes = 0;
  KeptTokens kept_tokens;
  double ttft_s = 0, tokens_per_s = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0;
  std::optional<std::string> trace;  // the trace file, with --trace

  bool operator==(const SampleRecord&) const = default;
};

// The line's JSON (without "key", which the journal adds). Metric names must not collide with the
// record's own fields (Internal error).
nlohmann::json to_json(const SampleRecord& record);
// Back from a journal record: every field that is not one of the record's own and holds a number
// (or null: to_json writes a NaN metric as null) is a metric, in name order; other unknown fields
// are ignored. Throws InvalidInput naming the field, its message prefixed with `where` (the file).
SampleRecord sample_from_json(const nlohmann::json& json, std::string_view where = "");

struct KvMeans {
  std::optional<double> peak_kv_bytes, ttft_s, tokens_per_s;  // none over zero samples
};
KvMeans kv_means(std::span<const SampleRecord> samples);

}  // namespace trimvl::app::eval
