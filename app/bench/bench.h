#pragma once
// `trimvl bench` (DESIGN §6): a Qwen3-VL model of a config's shape with random weights, made in
// memory, measured for the full cache and for one retention policy — decode tokens/s after filling
// the cache with N tokens, time to first token for an image prompt, peak device memory, KV bytes,
// eviction events and their time, and how close a decode step comes to the HBM floor (the bytes it
// must read over the copy bandwidth measured in the same run). Optionally, in the same run, HF
// transformers on the same config and prompts (app/bench/hf_baseline.py) for the ratios ours/theirs.
// docs/perf.md documents the JSON.
//
// Torch-free: the CLI includes this header only.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "app/engine.h"

namespace trimvl::app {

// The HF transformers baseline: `python script --config ... --json FILE` (app/bench/hf_baseline.py).
struct HfBaselineOptions {
  std::filesystem::path python;  // an interpreter path, or a name looked up on PATH
  std::filesystem::path script;
};

struct BenchOptions {
  std::filesystem::path config;  // a qwen3_vl config.json (text_config, vision_config, token ids)
  std::string device = "cuda";
  std::string dtype = "bf16";
  std::vector<int64_t> contexts = {1024, 8192, 32768};  // tokens in the cache before decoding
  int64_t decode_tokens = 64;                           // timed decode steps per context
  int64_t warmup = 3;  // untimed decode steps before them; > 0 also runs TTFT once untimed
  // The policy measured beside the full cache; prefill_chunk sizes the synthetic fill's forwards
  // (default kDefaultFillChunk) and chunks the TTFT prompt (default: one forward).
  KvCacheSettings kv;
  uint64_t seed = 0;
  bool cuda_graphs = true;  // decode steps as CUDA graph replays (language/qwen3vl/decode_graph.h)
  bool policy_only = false;  // measure the policy alone, not the full cache beside it (long contexts)
  // When set, extra untimed windows are profiled into this directory (app/bench/kernel_profile.h):
  // one TTFT per policy; per context 32 decode steps and, for an evicting policy, the next eviction
  // alone.
  std::filesystem::path profile_dir;
  // Run the baseline after our measurements, with the same config, device, dtype, contexts, decode
  // tokens, warm-up and seed.
  std::optional<HfBaselineOptions> hf_baseline;

  // Throws InvalidInput naming the option for a value out of range (NotFound for a missing baseline
  // script), before anything is loaded.
  void validate() const;
};

// The synthetic fill's forward size without --prefill-chunk: large enough to run at prefill speed,
// small enough that attention's scores stay bounded (32 heads x 1024 x 32K floats = 4 GiB).
inline constexpr int64_t kDefaultFillChunk = 1024;
// The TTFT prompt: one square RGB image of this many pixels a side, then this many text tokens.
inline constexpr int64_t kTtftImageSide = 1024;
inline constexpr int64_t kTtftQuestionTokens = 32;
// Timed TTFT runs after the warm-up; the median is reported. On the H100 one single run in four
// (docs/perf.md, run N) to one in eighteen (run O) loses 6-63 ms to a host stall; a median of
// eleven moves only when six stall.
inline constexpr int kTtftRuns = 11;

struct EvictionTiming {
  int64_t events = 0;
  double seconds = 0;
};

struct DecodeResult {
  int64_t context = 0;  // tokens filled before decoding
  double fill_s = 0;    // the chunked synthetic prefill of `context` tokens
  int64_t steps = 0;    // timed decode steps
  double decode_s = 0;  // their wall time (device synchronised before and after only)
  double tokens_per_s = 0;
  int64_t cached_tokens = 0;    // after the timed steps, summed over (layer, kv head)
  int64_t kv_bytes = 0;         // K and V bytes those tokens take
  int64_t bytes_per_token = 0;  // read by one decode step: weights (+ gates) + mean KV held while timed
  double floor_fraction = 0;    // (bytes_per_token / copy bandwidth) / measured seconds per token
  EvictionTiming fill_evictions, decode_evictions;
  std::optional<int64_t> peak_memory_bytes;  // device allocator peak over fill + decode (CUDA only)
  int64_t graph_replays = 0, graph_captures = 0;  // of the warm-up and timed steps
  std::optional<double> hf_ratio;  // tokens_per_s / HF's at this context (> 1: we are faster)
};

// One timed TTFT's phases.
struct TtftPhases {
  double preprocess_s = 0;  // image processor on the synthetic frame (the frame itself is made before)
  double vision_s = 0;      // vision encoder, until the device is done
  // Until the encoder's forward returned, its device work queued: near vision_s, the host held the
  // encoder up; far below it, the device did.
  double vision_host_s = 0;
  double prefill_s = 0;  // prompt through the decoder + lm_head + argmax of the first token
  double total_s = 0;
};

struct TtftResult {
  int64_t image_tokens = 0, prompt_tokens = 0;
  int64_t kv_bytes = 0;  // held after the prefill
  EvictionTiming evictions;
  // Every timed run, fastest first (one for a single run). Kept so that a slow median tells a few
  // slow runs from a slow path, and a slow run's phases say where it lost its time.
  std::vector<TtftPhases> runs;
  const TtftPhases& phases() const { return runs.at(runs.size() / 2); }  // the median run's
  // HF's vision + prefill + first token over ours (vision_s + prefill_s: HF is given pixel_values, so
  // our preprocessing is left out to compare like with like); > 1: we are faster.
  std::optional<double> hf_ratio;
};

struct PolicyResult {
  std::string policy;  // cache::Policy::describe()
  std::string gates;   // "rg" | "rg10" when the policy runs random gates, else empty
  TtftResult ttft;
  std::vector<DecodeResult> decode;
  std::optional<int64_t> peak_memory_bytes;  // over this policy's whole run, weights included
};

struct HfDecodeResult {
  int64_t context = 0, steps = 0;
  double tokens_per_s = 0;
};

// What the baseline script reported (the fields the ratios and the table need; `json` has all).
struct HfBaseline {
  std::string command;  // as run, one shell-quoted line
  std::string error;    // why there are no results (the script failed, or wrote what we cannot use)
  std::string json;     // the script's JSON, verbatim
  std::string transformers_version, torch_version, device_name, attn_implementation;
  double ttft_s = 0;  // vision + prefill + first token; no preprocessing
  int64_t image_tokens = 0, prompt_tokens = 0;
  std::vector<HfDecodeResult> decode;  // in --contexts order
};

struct BenchReport {
  std::string date;     // UTC, ISO 8601
  std::string version;  // trimvl's
  std::string config;   // the config file
  std::string device, dtype;
  int64_t parameters = 0;           // both towers
  int64_t weight_bytes = 0;         // both towers, in dtype
  int64_t decode_weight_bytes = 0;  // text weights one decode step reads (tied embedding once)
  double copy_bandwidth = 0;        // bytes/s, a device-to-device copy counted as read + write
  // A decode step's matrix products alone, as one CUDA graph (CUDA only): what the step would
  // take if everything else were free.
  std::optional<double> matmul_step_s;
  // The host's threads: ATen's intra-op pool and what the hardware offers. Host-bound phases (a
  // TTFT's launches) wander with them.
  int intra_op_threads = 0, hardware_threads = 0;
  bool memory_stats = false;        // device allocator statistics available (CUDA)
  bool cuda_graphs = false;         // decode steps were allowed to run as CUDA graph replays
  std::vector<PolicyResult> runs;   // full first, then the requested policy when it is another
  std::optional<HfBaseline> hf_baseline;  // when options.hf_baseline; check its `error`
};

// Runs the benchmark; progress goes to the log. Throws trimvl::Error (InvalidInput / NotFound /
// Unsupported) for options, config files or devices that do not work. A baseline that fails does
// not throw: our results stand, and report.hf_baseline->error says what went wrong.
BenchReport run_bench(const BenchOptions& options);

std::string bench_json(const BenchReport& report);   // the JSON docs/perf.md describes, indented
std::string bench_table(const BenchReport& report);  // the human summary for stdout

}  // namespace trimvl::app
