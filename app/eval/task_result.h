#pragma once
// What one (task, KV configuration) of an evaluation came to: the unit every output of `trimvl eval`
// (results JSON, CSV summary, summary table, plots) is written from. Plain data, torch-free; the
// scoring code fills `metrics`, the run loop the counts and KV means.
//
// Naming. A configuration is labelled "<policy>-M<budget>" ("dbtrimkv-M64"), or "<policy>" for one
// without a budget ("full"). Its results are filed under the key "<task>@<label>"
// ("counting@dbtrimkv-M64") — always, also when a command evaluates one configuration, so that a
// key never depends on the rest of the sweep and two runs' files merge without collisions. The key
// is the "task" lmms-eval tools see: results[key], <date>_samples_<key>.jsonl.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl::app::eval {

struct KvConfig {
  std::string policy;             // as --kv-policy names it: full, trimkv, dbtrimkv, streaming, ...
  std::optional<int64_t> budget;  // M, tokens per (layer, kv-head); none for full (and threshold modes)

  std::string label() const;  // "dbtrimkv-M64", "full"
  bool operator==(const KvConfig&) const = default;
};

// "<task>@<label>". Throws InvalidInput for a task name that cannot be part of a file name (empty,
// or containing '/', '\\', '@' or a control character).
std::string result_key(std::string_view task, const KvConfig& config);

struct MetricResult {
  std::string name;               // "exact_match", "anls", ...
  double mean = 0;                // over the scored samples
  std::optional<double> stderr_;  // standard error of the mean; none when n < 2 (lmms-eval: "N/A")
  bool higher_is_better = true;
};

struct TaskResult {
  std::string task;  // the dataset's task name, without the configuration
  KvConfig config;
  std::vector<MetricResult> metrics;
  int64_t n_original = 0;   // samples of this task in the dataset (valid ones)
  int64_t n_effective = 0;  // samples evaluated in this configuration (after --limit)
  // Means over the evaluated samples (sample_record.h: kv_means); none when nothing was evaluated.
  std::optional<double> mean_peak_kv_bytes, mean_ttft_s, mean_tokens_per_s;

  std::string key() const { return result_key(task, config); }
  const MetricResult* metric(std::string_view name) const;  // nullptr when absent
};

}  // namespace trimvl::app::eval
