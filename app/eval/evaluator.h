#pragma once
// `trimvl eval`'s run: a dataset (dataset.h) through one engine under every KV configuration of a
// sweep (sweep.h), each answer scored (task_metrics.h) and appended to its (task, configuration)
// samples journal the moment it is done (sample_journal.h), then the aggregates: lmms-eval results
// JSON, CSV, summary table and, in media builds, the charts (results_json.h, summary_csv.h,
// summary_table.h, plots.h). Torch-free.
//
// Order: sample by sample, every configuration of a sample before the next sample, so that its
// images and videos are encoded once (the engine's media cache) and a run cut short has all
// configurations of its first samples rather than one configuration of all. Each request starts
// from a reset conversation.
//
// Resume: run again with the same options, a run killed at any point (SIGKILL included) continues in
// the same files (run_directory.h picks them by the resolved options) and evaluates only what no
// journal holds. A sample that fails at run time (a media file that does not decode) is reported and
// left out — not journaled, so the next run retries it — unless `strict`.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/engine.h"
#include "app/eval/run_directory.h"
#include "app/eval/sweep.h"
#include "app/eval/task_result.h"

namespace trimvl::app::eval {

struct EvalOptions {
  std::filesystem::path dataset;      // JSONL (dataset.h)
  std::filesystem::path output_dir;
  std::string model_name;             // as the user named it: the output folder and the results' "model"
  std::vector<std::string> policies;  // the sweep as given, for the results file
  std::vector<int64_t> budgets;
  std::vector<SweepConfig> configs;   // expand_sweep(policies, budgets, ...)
  std::vector<std::string> tasks;     // only these tasks (empty: all); each must be in the dataset
  std::optional<int64_t> limit;       // at most this many samples per task, as lmms-eval's --limit
  bool shuffle = false;               // shuffle each task's samples (with `seed`) before the limit
  uint64_t seed = 1234;
  bool strict = false;                // an invalid sample or a failing one ends the run
  GenerationSettings generation;      // greedy unless a temperature is given
  bool likelihood_mcq = false;        // MCQ by the options' log-probabilities instead of generation
  bool trace = false;                 // a retention trace per request, under <run>/traces/
  bool progress = true;
  bool resume = true;                 // false: a new run even when these options ran before
  nlohmann::json engine_config;       // device, dtype, gates...: part of the resolved options
  std::string git_hash;               // the build's source commit
  std::string version;                // trimvl's
};

struct EvalOutcome {
  RunDirectory run;
  std::vector<TaskResult> results;    // per (task, configuration), in dataset-task then sweep order
  int64_t evaluated = 0;              // requests this process ran
  int64_t resumed = 0;                // found done in the journals
  int64_t failed = 0;                 // requests that failed and were left out
  int64_t invalid_samples = 0;        // dataset lines skipped by validation
  std::vector<std::filesystem::path> plots;
};

// Validates the dataset and the options (InvalidInput naming the file and line, or the option)
// before it asks `engine` for the engine — the first time a request is due, so a run that finds
// everything done never loads the model. Throws Error(Cancelled) when the engine is cancelled;
// what finished is kept.
EvalOutcome run_eval(const EvalOptions& options, const std::function<Engine&()>& engine);

}  // namespace trimvl::app::eval
