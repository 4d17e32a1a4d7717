#pragma once
// Where one `trimvl eval` run writes, laid out as lmms-eval lays out its output:
//
//   <output-dir>/<model>/                  the model name sanitised as lmms-eval does
//       run.json                           manifest: which resolved config ran under which date
//       <date>_results.json                results_json.h
//       <date>_samples_<key>.jsonl         one journal per result key (sample_journal.h)
//       <date>_summary.csv                 summary_csv.h
//       <date>_accuracy_<task>_<metric>.png, <date>_kv_memory_<task>.png    plots.h
//
// <date> is lmms-eval's "%Y%m%d_%H%M%S" (local time here) of the run's first start. Re-running the
// same command must resume into the same files, so the date is not "now" but looked up: run.json
// lists every run of the directory with its resolved config, and a run whose config equals the new
// one (exact JSON equality) lends its date. A different config starts a new run with a fresh date.
// The resolved config is the caller's to choose: everything that changes results (dataset, model
// and gates, policies, budgets, --limit, --shuffle/--seed, generation flags) and nothing that does
// not (output directory, verbosity, --no-progress).
//
// run.json is rewritten atomically under an flock of a sibling ".run.lock", so concurrent
// `trimvl eval`s in one directory never lose each other's entries.
#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace trimvl::app::eval {

struct RunDirectory {
  std::filesystem::path dir;  // <output-dir>/<model-name-sanitised>
  std::string model_name_sanitised;
  std::string date;         // "20261123_141502"
  std::string config_hash;  // FNV-1a 64 of the resolved config's canonical dump, 16 hex digits
  bool resumed = false;     // the manifest already held this config

  std::filesystem::path manifest() const { return dir / "run.json"; }
  std::filesystem::path results() const;  // <date>_results.json
  std::filesystem::path summary_csv() const;
  // <date>_samples_<key>.jsonl; the key as task_result.h builds it.
  std::filesystem::path samples(std::string_view key) const;
  // Characters outside [A-Za-z0-9._@+-] in task and metric names become '_'.
  std::filesystem::path accuracy_plot(std::string_view task, std::string_view metric) const;
  std::filesystem::path kv_memory_plot(std::string_view task) const;
  // traces/<date>_<sample id>_<configuration label>.trace (--trace), names sanitised as above.
  std::filesystem::path trace(std::string_view sample_id, std::string_view config_label) const;
};

// FNV-1a, 64 bits, as 16 hex digits: a short stable name for bytes (shown or compared, never trusted
// as a secure digest).
std::string fnv1a_hex(std::string_view bytes);

// lmms-eval's sanitize_model_name: the last two '/'-separated parts of the name, runs of
// "<>:/\|?*[] characters replaced by "__" ("Qwen/Qwen3-VL-4B-Instruct" → "Qwen__Qwen3-VL-4B-Instruct").
// Trailing '/' are dropped first (lmms-eval would keep an empty last part). Throws InvalidInput
// when nothing usable is left ("", ".", "..").
std::string sanitise_model_name(std::string_view model_name);

// Creates <output_dir>/<model>/ and registers or finds the run. With resume = false a new run
// starts even when the config ran before (the manifest then names the newest run for it). A date
// already taken in the directory (another run started the same second) moves on a second.
// Throws InvalidInput naming the manifest when it is not one of ours.
RunDirectory open_run(const std::filesystem::path& output_dir, std::string_view model_name,
                      const nlohmann::json& resolved_config, bool resume = true,
                      std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

}  // namespace trimvl::app::eval
