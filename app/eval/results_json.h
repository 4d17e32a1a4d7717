#pragma once
// <date>_results.json in lmms-eval's layout (lmms_eval/evaluator.py simple_evaluate/evaluate,
// evaluator_utils.consolidate_results, loggers/evaluation_tracker.py), so that tools reading
// lmms-eval results read ours:
//
//   "results":          {key: {"alias": key, "<metric>,none": mean, "<metric>_stderr,none": se | "N/A"}}
//   "group_subtasks":   {key: []}                   (every key is a task of its own, no groups)
//   "configs":          {key: {"task": key, "output_type": "generate_until", "metric_list": [...],
//                              "metadata": {"version": ...}, "trimvl": {task, kv_policy, kv_budget}}}
//   "versions", "n-shot" (0), "higher_is_better", "n-samples": {key: {"original", "effective"}}
//   "config":           {"model", "model_args", "model_backend", "batch_size": 1, ...} + the caller's
//   "git_hash", "date", "task_hashes": {}, and the GeneralConfigTracker fields: "model_source",
//   "model_name", "model_name_sanitized", "start_time", "end_time",
//   "total_evaluation_time_seconds" (a string, as lmms-eval writes it)
//   "trimvl":           {"version", "sweep": {"policies", "budgets"}, "configurations": [one per key:
//                        task, kv_policy, kv_budget, label, n, mean_peak_kv_bytes, mean_ttft_s,
//                        mean_tokens_per_s]}
//
// Each (task, configuration) is one lmms-eval "task" under its result key "<task>@<label>"
// (task_result.h); "trimvl.configurations" and each config's "trimvl" block give the plain task and
// KV configuration back to tools that know about sweeps. The "filter" of every metric is "none":
// scoring applies no lmms-eval filter pipeline.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

struct ResultsInfo {
  std::string model_name;             // as the user named it (hub id or path)
  std::string model_args;             // lmms-eval's "pretrained=...,gates=..." string
  nlohmann::json config;              // merged into "config": the resolved settings (generation, limit, seed, ...)
  std::vector<std::string> policies;  // the sweep as given (--kv-policy)
  std::vector<int64_t> budgets;       // (--kv-budget)
  std::string git_hash;               // the build's source commit (empty: null)
  std::string trimvl_version;
  std::string date;  // RunDirectory::date
  // Seconds on any clock (lmms-eval's perf_counter); a resumed run's are its own invocation's.
  double start_time = 0, end_time = 0;
  nlohmann::json task_versions;  // {task: version}, for "versions"; absent tasks get 0
};

// Throws Internal for two results with one key. `results` keep their order.
nlohmann::ordered_json results_json(const std::vector<TaskResult>& results, const ResultsInfo& info);

// Indented, UTF-8 as-is (lmms-eval's ensure_ascii=False), invalid UTF-8 replaced; written atomically.
void write_results_json(const std::filesystem::path& path, const nlohmann::ordered_json& json);

}  // namespace trimvl::app::eval
