#include "app/eval/results_json.h"

#include <set>
#include <utility>

#include <fmt/format.h>

#include "app/eval/run_directory.h"
#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

using ojson = nlohmann::ordered_json;

ojson optional_number(const std::optional<double>& v) { return v ? ojson(*v) : ojson(nullptr); }
ojson budget_json(const KvConfig& c) { return c.budget ? ojson(*c.budget) : ojson(nullptr); }

}  // namespace

ojson results_json(const std::vector<TaskResult>& results, const ResultsInfo& info) {
  // Built apart and moved in at the end: ordered_json keeps its members in a vector, so a reference
  // into `out` would not survive the next insertion.
  ojson per_key = ojson::object(), subtasks = ojson::object(), configs = ojson::object(), versions = ojson::object(),
        n_shot = ojson::object(), higher = ojson::object(), n_samples = ojson::object();
  ojson configurations = ojson::array();

  std::set<std::string> seen;
  for (const TaskResult& r : results) {
    const std::string key = r.key();
    TRIMVL_CHECK(seen.insert(key).second, "two results for {}", key);

    ojson entry = {{"alias", key}};
    ojson metric_list = ojson::array();
    ojson better = ojson::object();
    for (const MetricResult& m : r.metrics) {
      // evaluator_utils.consolidate_results: "<metric>,<filter>" and "<metric>_stderr,<filter>",
      // the latter "N/A" where a standard error cannot be computed (fewer than two samples).
      entry[m.name + ",none"] = m.mean;
      entry[m.name + "_stderr,none"] = m.stderr_ ? ojson(*m.stderr_) : ojson("N/A");
      metric_list.push_back({{"metric", m.name}, {"aggregation", "mean"}, {"higher_is_better", m.higher_is_better}});
      better[m.name] = m.higher_is_better;
    }
    per_key[key] = std::move(entry);
    higher[key] = std::move(better);
    subtasks[key] = ojson::array();
    ojson version = 0;
    if (info.task_versions.is_object() && info.task_versions.contains(r.task)) version = info.task_versions[r.task];
    configs[key] = {
        {"task", key},
        {"output_type", "generate_until"},
        {"metric_list", metric_list},
        {"metadata", {{"version", version}}},
        {"trimvl", {{"task", r.task}, {"kv_policy", r.config.policy}, {"kv_budget", budget_json(r.config)}}}};
    versions[key] = version;
    n_shot[key] = 0;
    n_samples[key] = {{"original", r.n_original}, {"effective", r.n_effective}};
    configurations.push_back({{"key", key},
                              {"task", r.task},
                              {"kv_policy", r.config.policy},
                              {"kv_budget", budget_json(r.config)},
                              {"label", r.config.label()},
                              {"n", r.n_effective},
                              {"mean_peak_kv_bytes", optional_number(r.mean_peak_kv_bytes)},
                              {"mean_ttft_s", optional_number(r.mean_ttft_s)},
                              {"mean_tokens_per_s", optional_number(r.mean_tokens_per_s)}});
  }

  ojson out;
  out["results"] = std::move(per_key);
  out["group_subtasks"] = std::move(subtasks);
  out["configs"] = std::move(configs);
  out["versions"] = std::move(versions);
  out["n-shot"] = std::move(n_shot);
  out["higher_is_better"] = std::move(higher);
  out["n-samples"] = std::move(n_samples);
  // simple_evaluate's "config": what ran, then the caller's resolved settings over it.
  ojson config = {{"model", info.model_name},
                  {"model_args", info.model_args},
                  {"model_backend", "trimvl"},
                  {"batch_size", 1},
                  {"batch_sizes", ojson::array()}};
  if (info.config.is_object())
    for (const auto& [k, v] : info.config.items()) config[k] = v;
  config["kv_sweep"] = {{"policies", info.policies}, {"budgets", info.budgets}};
  out["config"] = std::move(config);
  out["git_hash"] = info.git_hash.empty() ? ojson(nullptr) : ojson(info.git_hash);
  out["date"] = info.date;
  out["task_hashes"] = ojson::object();  // lmms-eval's, when no doc hashes are logged
  // GeneralConfigTracker, as evaluation_tracker.save_results_aggregated merges it in.
  out["model_source"] = "trimvl";
  out["model_name"] = info.model_name;
  out["model_name_sanitized"] = info.model_name.empty() ? std::string() : sanitise_model_name(info.model_name);
  out["system_instruction"] = nullptr;
  out["system_instruction_sha"] = nullptr;
  out["fewshot_as_multiturn"] = false;
  out["chat_template"] = nullptr;
  out["chat_template_sha"] = nullptr;
  out["start_time"] = info.start_time;
  out["end_time"] = info.end_time;
  // A string, as lmms-eval writes str(end - start).
  out["total_evaluation_time_seconds"] = fmt::format("{}", info.end_time - info.start_time);

  out["trimvl"] = {{"version", info.trimvl_version},
                   {"sweep", {{"policies", info.policies}, {"budgets", info.budgets}}},
                   {"configurations", configurations}};
  return out;
}

void write_results_json(const std::filesystem::path& path, const nlohmann::ordered_json& json) {
  write_file_atomically(path, json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n");
}

}  // namespace trimvl::app::eval
