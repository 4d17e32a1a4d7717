// trimvl eval -m MODEL [--dataset FILE.jsonl] --kv-policy full,dbtrimkv --kv-budget 64,128 ...: a
// dataset under every KV configuration of the sweep, lmms-eval-compatible results, a CSV, charts and
// a summary table (app/eval/evaluator.h). Run the same command again to resume.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "app/cli/commands.h"
#include "app/cli/interrupt.h"
#include "app/cli/request_options.h"
#include "app/engine.h"
#include "app/eval/evaluator.h"
#include "app/eval/summary_table.h"
#include "git_hash.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::cli {
namespace {

struct EvalCommand {
  app::EngineOptions engine;
  KvSweepLists sweep;
  app::GenerationSettings generation;
  std::string dataset = TRIMVL_BUILTIN_DATASET;
  std::string output_dir = "eval-results";
  std::vector<std::string> tasks;
  std::optional<int64_t> limit;
  bool shuffle = false, strict = false, likelihood = false, trace = false, no_progress = false, fresh = false;
};

}  // namespace

void register_eval(CLI::App& app) {
  auto o = std::make_shared<EvalCommand>();
  auto* cmd = app.add_subcommand(
      "eval", "Evaluate a dataset under a sweep of KV cache policies and budgets (lmms-eval-compatible output)");
  add_engine_options(*cmd, o->engine, &o->sweep);
  add_generation_options(*cmd, o->generation);
  const std::string data = "Dataset";
  cmd->add_option("--dataset", o->dataset,
                  "JSONL file, one sample per line (docs/eval.md); default: the built-in dataset (assets/eval)")
      ->capture_default_str()
      ->group(data);
  cmd->add_option("--tasks", o->tasks, "Only these tasks (comma-separated)")->delimiter(',')->group(data);
  cmd->add_option("--limit", o->limit, "At most N samples per task")->check(CLI::PositiveNumber)->group(data);
  cmd->add_flag("--shuffle", o->shuffle, "Pick each task's samples at random (with --seed, default 1234) before --limit")
      ->group(data);
  cmd->add_flag("--strict", o->strict, "Stop at the first invalid or failing sample instead of reporting and skipping it")
      ->group(data);
  cmd->add_flag("--likelihood-mcq", o->likelihood,
                "Multiple choice by the options' log-probabilities (as `trimvl score`) instead of a generated answer")
      ->group(data);
  const std::string out = "Output";
  cmd->add_option("--output-dir", o->output_dir, "Results go to DIR/<model>/")->capture_default_str()->group(out);
  cmd->add_flag("--trace", o->trace, "Write a retention trace per sample and configuration (DIR/<model>/traces/)")
      ->group(out);
  cmd->add_flag("--no-progress", o->no_progress, "No progress bar or periodic progress lines")->group(out);
  cmd->add_flag("--fresh", o->fresh, "Start a new run even when this command ran before (default: resume it)")
      ->group(out);

  cmd->callback([o] {
    app::eval::EvalOptions options;
    options.dataset = o->dataset;
    options.output_dir = o->output_dir;
    options.model_name = o->engine.model;
    options.policies = o->sweep.policies;
    options.budgets = o->sweep.budgets;
    options.configs = app::eval::expand_sweep(o->sweep.policies, o->sweep.budgets, o->engine.kv);
    options.tasks = o->tasks;
    options.limit = o->limit;
    options.shuffle = o->shuffle;
    if (o->generation.seed) options.seed = *o->generation.seed;
    options.strict = o->strict;
    options.generation = o->generation;
    options.likelihood_mcq = o->likelihood;
    options.trace = o->trace;
    options.progress = !o->no_progress && log::enabled(log::Level::Info);
    options.resume = !o->fresh;
    options.engine_config = {{"device", o->engine.device}, {"dtype", o->engine.dtype}};
    options.git_hash = TRIMVL_GIT_HASH;
    options.version = TRIMVL_VERSION;

    // The model loads when the first request is due: after the dataset is validated, and not at all
    // when a resumed run finds everything done.
    std::unique_ptr<app::Engine> engine;
    std::optional<InterruptScope> interrupt;
    const auto get_engine = [&]() -> app::Engine& {
      if (!engine) {
        app::EngineOptions engine_options = o->engine;
        engine_options.kv = options.configs.front().settings;
        engine = std::make_unique<app::Engine>(engine_options);
        interrupt.emplace(*engine);
      }
      return *engine;
    };
    const app::eval::EvalOutcome outcome = app::eval::run_eval(options, get_engine);
    const std::string table = app::eval::summary_table(outcome.results);
    std::fwrite(table.data(), 1, table.size(), stdout);
    std::string where = fmt::format("results: {}", outcome.run.results().string());
    for (const auto& plot : outcome.plots) where += fmt::format("\ncharts: {}", plot.string());
    log::info("eval: {} evaluated, {} resumed, {} failed, {} invalid samples skipped\n{}", outcome.evaluated,
              outcome.resumed, outcome.failed, outcome.invalid_samples, where);
    if (outcome.failed > 0)
      throw Error(fmt::format("{} of {} requests failed (reported above) and were left out of the results; run the "
                              "same command again to retry them",
                              outcome.failed, outcome.failed + outcome.evaluated),
                  Error::Kind::InvalidInput);
  });
}

}  // namespace trimvl::cli
