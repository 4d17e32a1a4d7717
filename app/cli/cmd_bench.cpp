// trimvl bench [--config FILE] [--device D] [--dtype T] [--contexts N,...] [--decode-tokens N]
// [--warmup N] [--kv-policy P --kv-budget M --kv-buffer B --prefill-chunk N] [--json FILE]
// [--hf-baseline [--python PATH] [--hf-script FILE]]:
// speed and memory of a random Qwen3-VL model of the config's shape, full cache and one policy
// (app/bench/bench.h), and with --hf-baseline HF transformers on the same shapes for the ratios.
// The table goes to stdout, the JSON (docs/perf.md) to --json.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "app/bench/bench.h"
#include "app/cli/commands.h"
#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::cli {

void register_bench(CLI::App& app) {
  struct Options {
    app::BenchOptions bench;
    std::string config = TRIMVL_BENCH_CONFIG, json;
    bool hf_baseline = false;
    // The build's reference venv when it has one (its transformers is the pinned one).
    std::string python = std::string(TRIMVL_PYTHON).empty() ? "python3" : TRIMVL_PYTHON;
    std::string hf_script = TRIMVL_HF_SCRIPT;
  };
  auto options = std::make_shared<Options>();
  app::BenchOptions& b = options->bench;
  // The policy beside the full cache: DBTrimKV at M = 256 (on the 4B, 36 x 8 x 256 = 74K tokens in all).
  b.kv.policy = "dbtrimkv";
  b.kv.budget = 256;
  auto* cmd = app.add_subcommand(
      "bench",
      "Speed and memory of a random-weight Qwen3-VL (full cache and one KV policy): decode tok/s, TTFT, "
      "peak memory, KV bytes, evictions, fraction of the HBM floor; with --hf-baseline, HF transformers on the same "
      "shapes and prompts and the ratios ours/theirs");
  cmd->add_option("--config", options->config, "Qwen3-VL config.json whose shapes to build (default: the bundled 4B)")
      ->capture_default_str();
  cmd->add_option("--device", b.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", b.dtype, "bf16, fp16 or fp32")->capture_default_str();
  cmd->add_option("--contexts", b.contexts, "Tokens in the cache before decoding, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--decode-tokens", b.decode_tokens, "Timed decode steps per context")->capture_default_str();
  cmd->add_option("--warmup", b.warmup, "Untimed decode steps before each timed run (> 0 also runs TTFT once untimed)")
      ->capture_default_str();
  const std::string group = "KV cache (budgets count tokens per (layer, kv head))";
  cmd->add_option("--kv-policy", b.kv.policy,
                  "Policy measured beside full: trimkv, dbtrimkv, streaming, snapkv, h2o "
                  "(random gates for trimkv/dbtrimkv)")
      ->check(CLI::IsMember({"full", "trimkv", "dbtrimkv", "streaming", "snapkv", "h2o"}))
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--kv-budget", b.kv.budget, "M: tokens kept per (layer, kv head)")
      ->capture_default_str()
      ->group(group);
  cmd->add_option("--kv-buffer", b.kv.buffer, "B: tokens per head held beyond M before an eviction runs (default 128)")
      ->group(group);
  cmd->add_option(
         "--prefill-chunk", b.kv.prefill_chunk,
         "Tokens per forward of the synthetic fill (default 1024) and of the TTFT prompt (default: one forward)")
      ->group(group);
  cmd->add_flag("--policy-only", b.policy_only,
                "Measure --kv-policy alone, without the full cache beside it (e.g. at 128K, where a full cache "
                "is 19 GiB)");
  cmd->add_flag("--no-cuda-graphs", [&b](int64_t) { b.cuda_graphs = false; },
                "Run every decode step eagerly instead of replaying CUDA graphs (to measure what they save)");
  cmd->add_option("--json", options->json, "Also write the results as JSON (docs/perf.md) to this file");
  cmd->add_option("--profile", b.profile_dir,
                  "Also profile untimed windows (one TTFT per policy; per context 32 decode steps and one eviction) "
                  "into this directory: Chrome traces and the kernels that took the most time");
  const std::string hf_group = "HF transformers baseline";
  cmd->add_flag("--hf-baseline", options->hf_baseline,
                "After our measurements, run HF transformers (Qwen3VLForConditionalGeneration, sdpa, generate) on "
                "the same config, device, dtype and prompts and print the ratios ours/theirs")
      ->group(hf_group);
  cmd->add_option("--python", options->python, "Python with torch and transformers for --hf-baseline")
      ->capture_default_str()
      ->group(hf_group);
  cmd->add_option("--hf-script", options->hf_script,
                  "The baseline script: app/bench/hf_baseline.py, or one with its options and JSON")
      ->capture_default_str()
      ->group(hf_group);
  cmd->callback([options] {
    app::BenchOptions& bench = options->bench;
    bench.config = options->config;
    if (options->hf_baseline) bench.hf_baseline = app::HfBaselineOptions{options->python, options->hf_script};
    bench.validate();
    if (!std::filesystem::is_regular_file(bench.config))
      throw Error("no such config file (--config)", Error::Kind::NotFound).file(bench.config.string());
    // A run takes minutes: find out now, not after it, that the JSON cannot be written there.
    if (!options->json.empty()) {
      const auto dir = std::filesystem::absolute(options->json).parent_path();
      if (!std::filesystem::is_directory(dir))
        throw Error("the directory for --json does not exist", Error::Kind::NotFound).file(options->json);
    }
    const app::BenchReport report = app::run_bench(bench);
    const std::string table = app::bench_table(report);
    std::fwrite(table.data(), 1, table.size(), stdout);
    if (!options->json.empty()) {
      write_file_atomically(options->json, app::bench_json(report));
      log::info("wrote {}", options->json);
    }
    // Our results are out; now the baseline's failure, as the run's one error.
    if (report.hf_baseline && !report.hf_baseline->error.empty()) throw Error(report.hf_baseline->error);
  });
}

}  // namespace trimvl::cli
