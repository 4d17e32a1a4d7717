#include "app/bench/hf_baseline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "app/process.h"
#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

// The script's JSON file, gone when the run is over whatever happened.
class TempJson {
 public:
  TempJson() : path_(fs::temp_directory_path() / fmt::format("trimvl-hf-baseline-{}.json", ::getpid())) {
    std::error_code ec;
    fs::remove(path_, ec);  // a stale file of an earlier process with our pid must not pass for output
  }
  ~TempJson() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempJson(const TempJson&) = delete;
  TempJson& operator=(const TempJson&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::vector<std::string> command_line(const BenchReport& report, const BenchOptions& options, const fs::path& out) {
  const HfBaselineOptions& hf = *options.hf_baseline;
  return {hf.python.string(),
          hf.script.string(),
          "--config",
          report.config,
          "--device",
          report.device,
          "--dtype",
          report.dtype,
          "--contexts",
          fmt::format("{}", fmt::join(options.contexts, ",")),
          "--decode-tokens",
          std::to_string(options.decode_tokens),
          "--warmup",
          std::to_string(options.warmup),
          "--ttft-runs",
          std::to_string(kTtftRuns),
          "--seed",
          std::to_string(options.seed),
          "--json",
          out.string()};
}

// The fields the ratios need, checked against what we measured: the same prompts, or no ratio.
void read_results(HfBaseline& hf, const fs::path& file, const BenchReport& report, const BenchOptions& options) {
  const nlohmann::json j = read_json_file(file);
  const ConfigObject root(j, file.string());
  hf.json = j.dump(2);
  hf.transformers_version = root.string("transformers_version");
  hf.torch_version = root.string("torch_version");
  hf.device_name = root.string("device_name");
  hf.attn_implementation = root.string("attn_implementation");
  const std::optional<ConfigObject> ttft_object = root.object("ttft");
  if (!ttft_object) throw root.error("ttft", "missing");
  const ConfigObject& ttft = *ttft_object;
  hf.ttft_s = ttft.number("seconds");
  hf.image_tokens = ttft.integer("image_tokens");
  hf.prompt_tokens = ttft.integer("prompt_tokens");
  if (!(hf.ttft_s > 0)) throw ttft.error("seconds", fmt::format("expected a positive time, got {}", hf.ttft_s));
  const TtftResult& ours = report.runs.front().ttft;
  if (hf.image_tokens != ours.image_tokens || hf.prompt_tokens != ours.prompt_tokens)
    throw ttft.error("", fmt::format("the TTFT prompt has {} image tokens of {}, ours {} of {}: not the same prompt",
                                     hf.image_tokens, hf.prompt_tokens, ours.image_tokens, ours.prompt_tokens));

  const auto it = j.find("decode");
  if (it == j.end() || !it->is_array() || it->size() != options.contexts.size())
    throw root.error("decode",
                     fmt::format("expected an array of {} results, one per context", options.contexts.size()));
  for (size_t i = 0; i < it->size(); ++i) {
    const ConfigObject d((*it)[i], file.string(), fmt::format("decode[{}]", i));
    const HfDecodeResult r{
        .context = d.integer("context"), .steps = d.integer("steps"), .tokens_per_s = d.number("tokens_per_second")};
    if (r.context != options.contexts[i])
      throw d.error("context", fmt::format("expected {} (--contexts order), got {}", options.contexts[i], r.context));
    if (r.steps != options.decode_tokens)
      throw d.error("steps", fmt::format("expected {} (--decode-tokens), got {}", options.decode_tokens, r.steps));
    if (!(r.tokens_per_s > 0))
      throw d.error("tokens_per_second", fmt::format("expected a positive rate, got {}", r.tokens_per_s));
    hf.decode.push_back(r);
  }
}

}  // namespace

HfBaseline run_hf_baseline(const BenchReport& report, const BenchOptions& options) {
  TRIMVL_CHECK(options.hf_baseline.has_value(), "run_hf_baseline without baseline options");
  TRIMVL_CHECK(!report.runs.empty(), "run_hf_baseline before any measurement");
  const fs::path& script = options.hf_baseline->script;
  const TempJson out;
  const std::vector<std::string> argv = command_line(report, options, out.path());
  HfBaseline hf;
  hf.command = shell_quote(argv);
  log::info("bench: HF transformers baseline: {}", hf.command);
  // A failure keeps only the command and why.
  const auto failed = [&](std::string why) {
    HfBaseline f;
    f.command = hf.command;
    f.error = fmt::format("the HF baseline script {} {}", script.string(), why);
    return f;
  };
  try {
    // Its stdout is diagnostics too: ours is the table's.
    const ProcessStatus status = run_process(argv, /*stdout_to_stderr=*/true);
    if (!status.ok())
      return failed(fmt::format("failed ({}: {}); its messages, if any, are above",
                                options.hf_baseline->python.string(), status.describe()));
    read_results(hf, out.path(), report, options);
  } catch (const Error& e) {
    return failed(fmt::format("gave no results: {}", e.what()));
  }
  return hf;
}

void attach_hf_baseline(BenchReport& report, HfBaseline baseline) {
  if (baseline.error.empty())
    for (PolicyResult& run : report.runs) {
      run.ttft.hf_ratio = baseline.ttft_s / (run.ttft.phases().vision_s + run.ttft.phases().prefill_s);
      for (size_t i = 0; i < run.decode.size(); ++i)
        run.decode[i].hf_ratio = run.decode[i].tokens_per_s / baseline.decode.at(i).tokens_per_s;
    }
  report.hf_baseline = std::move(baseline);
}

}  // namespace trimvl::app
