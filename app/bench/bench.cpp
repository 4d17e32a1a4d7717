#include "app/bench/bench.h"

#include <ATen/ATen.h>
#include <ATen/DeviceAccelerator.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <ctime>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "app/bench/hf_baseline.h"
#include "app/bench/kernel_profile.h"
#include "app/bench/random_model.h"
#include "app/pipeline/kv_settings.h"
#include "cache/paged_kv_cache.h"
#include "cache/policy.h"
#include "kernels/io/random_weights.h"
#include "kernels/ops/device_graph.h"
#include "kernels/ops/gemv.h"
#include "kernels/runtime/atomic_file.h"
#include "kernels/runtime/config_json.h"
#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/host_threads.h"
#include "kernels/runtime/log.h"
#include "language/qwen3vl/decode_graph.h"
#include "language/qwen3vl/prompt.h"
#include "language/qwen3vl/rope_index.h"
#include "language/qwen3vl/text_decoder.h"
#include "vision/frames.h"
#include "vision/qwen3vl/image_processor.h"
#include "vision/qwen3vl/vision_model.h"

namespace trimvl::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Everything a timed region needs to wait for has been queued on `device`; on the CPU ops are
// synchronous already.
c10::DeviceIndex device_index(c10::Device device) {
  return device.has_index() ? device.index() : at::accelerator::getDeviceIndex();
}

void synchronize(c10::Device device) {
  if (device.is_cuda()) at::accelerator::synchronizeDevice(device_index(device));
}

void reset_peak_memory(c10::Device device) {
  if (device.is_cuda()) at::accelerator::resetPeakStats(device_index(device));
}

std::optional<int64_t> peak_memory(c10::Device device) {
  if (!device.is_cuda()) return std::nullopt;
  const auto stats = at::accelerator::getDeviceStats(device_index(device));
  return stats.allocated_bytes[static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE)].peak;
}

// Bytes/s of a large device-to-device copy, counted as read + write (what a decode step's weight
// and KV reads can hope for). 1 GiB on a GPU, far beyond its L2; 256 MiB on the CPU.
double copy_bandwidth(c10::Device device) {
  const int64_t bytes = device.is_cuda() ? (int64_t{1} << 30) : (int64_t{256} << 20);
  const at::Tensor src = at::empty({bytes}, at::TensorOptions().dtype(at::kByte).device(device)).fill_(1);
  at::Tensor dst = at::empty_like(src);
  for (int i = 0; i < 2; ++i) dst.copy_(src);
  constexpr int kRepeats = 10;
  synchronize(device);
  const auto start = Clock::now();
  for (int i = 0; i < kRepeats; ++i) dst.copy_(src);
  synchronize(device);
  return 2.0 * static_cast<double>(bytes) * kRepeats / seconds_since(start);
}

// Seconds of a decode step's matrix products alone — every layer's stacked q/k/v, o, stacked
// gate/up (with SwiGLU) and down projections and lm_head on one token, as the model issues them
// (ops::linear and ops::gemv_silu_mul) — replayed as one CUDA graph, median of 20. Split from the
// whole step, it says how much of the gap to the HBM floor is the products' own efficiency and how
// much everything else. Weights are fresh random tensors of the model's shapes (the model's own are
// private to it), so this needs their size again in free device memory. CUDA only.
std::optional<double> matmul_step_seconds(const qwen3vl::TextConfig& t, c10::ScalarType dtype, c10::Device device) {
  if (!device.is_cuda()) return std::nullopt;
  const auto options = at::TensorOptions().dtype(dtype).device(device);
  const int64_t h = t.hidden_size, d = t.head_dim, qkv = (t.num_attention_heads + 2 * t.num_key_value_heads) * d;
  const auto weight = [&](int64_t rows, int64_t cols) { return at::randn({rows, cols}, options); };
  std::vector<std::array<at::Tensor, 4>> layers;  // q/k/v, o, gate/up, down
  for (int64_t l = 0; l < t.num_hidden_layers; ++l)
    layers.push_back({weight(qkv, h), weight(h, t.num_attention_heads * d), weight(2 * t.intermediate_size, h),
                      weight(h, t.intermediate_size)});
  const at::Tensor lm_head = weight(t.vocab_size, h);
  const at::Tensor x = at::randn({1, h}, options), attended = at::randn({1, t.num_attention_heads * d}, options),
                   activated = at::randn({1, t.intermediate_size}, options);
  const auto products = [&] {
    for (const auto& [qkv_w, o_w, gate_up_w, down_w] : layers) {
      ops::linear(x, qkv_w);
      ops::linear(attended, o_w);
      if (ops::gemv_silu_mul_supported(x, gate_up_w)) ops::gemv_silu_mul(x, gate_up_w);
      else at::linear(x, gate_up_w);
      ops::linear(activated, down_w);
    }
    ops::linear(x, lm_head);
  };
  products();  // cuBLAS handles and workspaces before capture
  ops::DeviceGraph graph(device);
  graph.capture(products);
  std::vector<double> times;
  for (int i = 0; i < 22; ++i) {
    synchronize(device);
    const auto start = Clock::now();
    graph.replay();
    synchronize(device);
    if (i >= 2) times.push_back(seconds_since(start));
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// A file-name-safe form of a policy's description ("dbtrimkv fixed_budget M=512 B=128").
std::string file_label(std::string_view text) {
  std::string out;
  for (const char c : text) out += std::isalnum(static_cast<unsigned char>(c)) || c == '=' ? c : '_';
  return out;
}

// Writes the summary beside the trace and logs where both are.
void finish_profile(KernelProfile& profile, const std::filesystem::path& dir, const std::string& name) {
  const std::string summary = profile.stop(dir / (name + ".json"));
  write_file_atomically(dir / (name + ".txt"), summary);
  log::info("bench: profile {}: {} (trace {}.json)\n{}", name, (dir / (name + ".txt")).string(), name, summary);
}

// A cache that times the end of each forward in which the policy evicts. The device is drained
// before (only when the forward will evict, which the cache knows beforehand) and after, so the
// time is the eviction's alone; a timed decode loop keeps its pace otherwise (an eviction
// synchronises with the host anyway).
class EvictionTimer final : public cache::KvCache {
 public:
  EvictionTimer(cache::PagedKvCache& cache, c10::Device device) : cache_(cache), device_(device) {}

  EvictionTiming take() { return std::exchange(timing_, {}); }

  int num_layers() const override { return cache_.num_layers(); }
  int64_t seen_tokens() const override { return cache_.seen_tokens(); }
  void begin_forward(const cache::ForwardTokens& tokens) override { cache_.begin_forward(tokens); }
  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& log_beta, double scale) override {
    return cache_.attend(layer, q, k, v, log_beta, scale);
  }
  void end_forward() override {
    if (!cache_.evicts_at_end_forward()) {
      cache_.end_forward();
      return;
    }
    synchronize(device_);
    std::optional<KernelProfile> profile;
    if (!profile_name_.empty()) profile.emplace();
    const auto start = Clock::now();
    cache_.end_forward();
    synchronize(device_);
    ++timing_.events;
    timing_.seconds += seconds_since(start);
    if (profile) finish_profile(*profile, profile_dir_, std::exchange(profile_name_, {}));
  }
  // Profiles the next eviction alone (kernel_profile.h) as `name` in `dir`.
  void profile_next_eviction(std::filesystem::path dir, std::string name) {
    profile_dir_ = std::move(dir);
    profile_name_ = std::move(name);
  }
  bool eviction_profile_pending() const { return !profile_name_.empty(); }
  void abort_forward() noexcept override { cache_.abort_forward(); }
  void reset() override { cache_.reset(); }
  std::optional<uint64_t> graph_key() const override { return cache_.graph_key(); }
  void replayed() override { cache_.replayed(); }

 private:
  cache::PagedKvCache& cache_;
  c10::Device device_;
  EvictionTiming timing_;
  std::filesystem::path profile_dir_;
  std::string profile_name_;  // empty: no eviction to profile
};

std::optional<cache::GateType> gates_for(const cache::Policy& policy) {
  if (!policy.scorer() || !policy.scorer()->needs_gates()) return std::nullopt;
  return policy.options().kind == cache::PolicyKind::TrimKV ? cache::GateType::Rg : cache::GateType::Rg10;
}

// Qwen3-VL-4B-Instruct's preprocessor_config.json (its processor class's defaults are Qwen2-VL's,
// patch 14), with the patch geometry of the vision config being benchmarked.
vision::qwen3vl::ImageProcessorConfig image_processor(const vision::qwen3vl::VisionConfig& v) {
  vision::qwen3vl::ImageProcessorConfig c = vision::qwen3vl::default_image_processor_config();
  c.patches.patch_size = v.patch_size;
  c.patches.temporal_patch_size = v.temporal_patch_size;
  c.patches.merge_size = v.spatial_merge_size;
  c.patches.min_pixels = 65536;
  c.patches.max_pixels = 16777216;
  c.patches.image_mean = {0.5, 0.5, 0.5};
  c.patches.image_std = {0.5, 0.5, 0.5};
  return c;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buffer;
}

// What stays fixed across the policies of one run.
struct Setup {
  const BenchOptions& options;
  qwen3vl::TextConfig text;
  vision::qwen3vl::VisionConfig vision_config;
  qwen3vl::PromptConfig prompt;
  c10::Device device;
  c10::ScalarType dtype;
  std::vector<io::RandomTensor> tensors;
  int64_t fill_chunk;
  const vision::qwen3vl::VisionModel* vision = nullptr;
};

// One policy's model (gates are model state) and a fresh cache per measurement.
class PolicyBench {
 public:
  PolicyBench(const Setup& setup, std::shared_ptr<const cache::Policy> policy, const cache::GateCheckpoint* gates)
      : s_(setup),
        policy_(std::move(policy)),
        // The same seed every time: each policy runs the same weights.
        decoder_(
            qwen3vl::TextDecoder::load(io::RandomWeights(setup.tensors, setup.dtype, setup.device, setup.options.seed),
                                       setup.text, setup.dtype, setup.device, gates)),
        graph_(decoder_, setup.options.cuda_graphs),
        ids_(at::detail::createCPUGenerator(setup.options.seed + 1)) {}

  TtftResult ttft() {
    auto cache = new_cache(s_.options.kv.prefill_chunk.value_or(0));
    EvictionTimer timer(*cache, s_.device);
    TtftResult r;
    TtftPhases& phases = r.runs.emplace_back();
    // The frame stands for a decoded file: making it is not part of the time.
    vision::Frames frame;
    frame.rgb = at::randint(0, 256, {1, kTtftImageSide, kTtftImageSide, 3}, ids_, at::kByte);
    frame.timestamps_s = {0.0};
    frame.source = "synthetic frame";
    synchronize(s_.device);
    const auto start = Clock::now();
    const auto processed = vision::qwen3vl::process_image(frame, image_processor(s_.vision_config), s_.device);
    phases.preprocess_s = seconds_since(start);
    const auto encode_start = Clock::now();
    const auto encoded = s_.vision->forward(processed.pixel_values, {processed.grid});
    phases.vision_host_s = seconds_since(encode_start);
    synchronize(s_.device);
    phases.vision_s = seconds_since(encode_start);

    // <|vision_start|> image pads <|vision_end|> question: the image block starts at token 1.
    const auto prefill_start = Clock::now();
    const int64_t merge = s_.vision_config.spatial_merge_size;
    const int64_t n_image = encoded.embeds.size(0);
    const int64_t total = n_image + 2 + kTtftQuestionTokens;
    std::vector<int64_t> ids(static_cast<size_t>(total));
    cache::ForwardTokens tokens;
    tokens.info.resize(static_cast<size_t>(total));
    const at::Tensor question = at::randint(0, std::min<int64_t>(s_.text.vocab_size, s_.prompt.vision_start_token_id),
                                            {kTtftQuestionTokens}, ids_, at::kLong);
    const int32_t cols = static_cast<int32_t>(processed.grid.w / merge);
    for (int64_t i = 0; i < total; ++i) {
      auto& info = tokens.info[static_cast<size_t>(i)];
      if (i == 0)
        ids[0] = s_.prompt.vision_start_token_id;
      else if (i <= n_image) {
        ids[static_cast<size_t>(i)] = s_.prompt.image_token_id;
        const auto k = static_cast<int32_t>(i - 1);
        info = {.modality = cache::Modality::Image,
                .token_id = s_.prompt.image_token_id,
                .media = 0,
                .t = 0,
                .row = k / cols,
                .col = k % cols};
      } else if (i == n_image + 1)
        ids[static_cast<size_t>(i)] = s_.prompt.vision_end_token_id;
      else
        ids[static_cast<size_t>(i)] = question[i - n_image - 2].item<int64_t>();
      info.token_id = static_cast<int32_t>(ids[static_cast<size_t>(i)]);
    }
    const qwen3vl::VisionBlock block{.offset = 1,
                                     .modality = qwen3vl::Modality::Image,
                                     .media = 0,
                                     .t = 0,
                                     .rows = static_cast<int32_t>(processed.grid.h / merge),
                                     .cols = cols};
    const at::Tensor positions = qwen3vl::mrope_positions(total, {&block, 1}).ids;
    const at::Tensor all_ids = at::tensor(ids, at::kLong).to(s_.device);

    // In forwards of --prefill-chunk tokens (one forward without), each with its share of the
    // image's embeddings and DeepStack features, as the pipeline prefills.
    const int64_t chunk = s_.options.kv.prefill_chunk.value_or(total);
    at::Tensor hidden;
    for (int64_t from = 0; from < total; from += chunk) {
      const int64_t count = std::min(chunk, total - from);
      at::Tensor embeds = decoder_.model.embed(all_ids.narrow(0, from, count));
      cache::ForwardTokens part;
      part.info.assign(tokens.info.begin() + from, tokens.info.begin() + from + count);
      const at::Tensor rows = positions.narrow(1, from, count).contiguous();
      const int64_t lo = std::max<int64_t>(from, 1), hi = std::min(from + count, n_image + 1);
      if (lo >= hi) {
        hidden = decoder_.model.forward(embeds, rows, part, timer);
        continue;
      }
      embeds.narrow(0, lo - from, hi - lo).copy_(encoded.embeds.narrow(0, lo - 1, hi - lo));
      qwen3vl::DeepstackInputs deepstack;
      deepstack.visual_mask = at::zeros({count}, at::TensorOptions().dtype(at::kBool).device(s_.device));
      deepstack.visual_mask.narrow(0, lo - from, hi - lo).fill_(true);
      for (const at::Tensor& level : encoded.deepstack) deepstack.features.push_back(level.narrow(0, lo - 1, hi - lo));
      hidden = decoder_.model.forward(embeds, rows, part, timer, &deepstack);
    }
    decoder_.lm_head(hidden.narrow(0, hidden.size(0) - 1, 1)).argmax(-1);  // the first token
    synchronize(s_.device);
    phases.prefill_s = seconds_since(prefill_start);
    phases.total_s = seconds_since(start);
    r.image_tokens = n_image;
    r.prompt_tokens = total;
    r.kv_bytes = cache->counters().kv_bytes;
    r.evictions = timer.take();
    return r;
  }

  DecodeResult decode(int64_t context, int64_t decode_weight_bytes, double bandwidth) {
    reset_peak_memory(s_.device);
    auto cache = new_cache(s_.fill_chunk);
    EvictionTimer timer(*cache, s_.device);
    DecodeResult r;
    r.context = context;

    synchronize(s_.device);
    auto start = Clock::now();
    for (int64_t from = 0; from < context; from += s_.fill_chunk) {
      const int64_t count = std::min(s_.fill_chunk, context - from);
      const at::Tensor ids = at::randint(0, s_.text.vocab_size, {count}, ids_, at::kLong).to(s_.device);
      const at::Tensor rows = at::arange(from, from + count, at::kLong).unsqueeze(0).expand({3, count}).contiguous();
      decoder_.model.forward(decoder_.model.embed(ids), rows,
                             cache::ForwardTokens::uniform(count, cache::Modality::Text), timer);
    }
    synchronize(s_.device);
    r.fill_s = seconds_since(start);
    r.fill_evictions = timer.take();

    // Greedy decode with the token kept on the device: no host round trip per step (the cache's
    // metadata gets no token id, -1, for the same reason). Steps are CUDA graph replays unless
    // --no-cuda-graphs.
    at::Tensor token = at::randint(0, s_.text.vocab_size, {1}, ids_, at::kLong).to(s_.device);
    int64_t position = context;
    const qwen3vl::DecodeGraph::Counters graphs_before = graph_.counters();
    const auto step = [&] {
      token = graph_.step(token, position++, {.modality = cache::Modality::Generated}, timer).argmax(-1);
    };
    for (int64_t i = 0; i < s_.options.warmup; ++i) step();
    timer.take();
    const int64_t kv_before = cache->counters().kv_bytes;
    synchronize(s_.device);
    start = Clock::now();
    for (int64_t i = 0; i < s_.options.decode_tokens; ++i) step();
    synchronize(s_.device);
    r.decode_s = seconds_since(start);
    r.decode_evictions = timer.take();

    const cache::CacheCounters& c = cache->counters();
    r.steps = s_.options.decode_tokens;
    r.tokens_per_s = static_cast<double>(r.steps) / r.decode_s;
    r.cached_tokens = c.cached_tokens;
    r.kv_bytes = c.kv_bytes;
    r.bytes_per_token = decode_weight_bytes + (kv_before + c.kv_bytes) / 2;
    r.floor_fraction = static_cast<double>(r.bytes_per_token) / bandwidth / (r.decode_s / static_cast<double>(r.steps));
    r.peak_memory_bytes = peak_memory(s_.device);
    const qwen3vl::DecodeGraph::Counters& g = graph_.counters();
    r.graph_replays = g.replays - graphs_before.replays;
    r.graph_captures = g.captures - graphs_before.captures;

    if (!s_.options.profile_dir.empty()) {
      const std::string label = fmt::format("{}-{}", file_label(policy_->describe()), context);
      {
        KernelProfile profile;
        for (int64_t i = 0; i < 32; ++i) step();
        synchronize(s_.device);
        finish_profile(profile, s_.options.profile_dir, "decode-" + label);
      }
      // Then the next eviction alone: a policy evicts at least once per buffer's worth of steps.
      if (policy_->evicts()) {
        timer.profile_next_eviction(s_.options.profile_dir, "eviction-" + label);
        for (int64_t i = 0; i <= s_.options.kv.buffer.value_or(128) + 32 && timer.eviction_profile_pending(); ++i) step();
      }
    }
    return r;
  }

  // An untimed TTFT run under the profiler.
  void profile_ttft() {
    KernelProfile profile;
    ttft();
    finish_profile(profile, s_.options.profile_dir, "ttft-" + file_label(policy_->describe()));
  }

 private:
  std::unique_ptr<cache::PagedKvCache> new_cache(int64_t max_forward_tokens) const {
    cache::PagedCacheOptions o;
    o.num_layers = static_cast<int>(s_.text.num_hidden_layers);
    o.num_kv_heads = static_cast<int>(s_.text.num_key_value_heads);
    o.head_dim = s_.text.head_dim;
    o.dtype = s_.dtype;
    o.device = s_.device;
    o.max_forward_tokens = max_forward_tokens;
    o.max_stream_tokens = s_.text.max_position_embeddings;
    return std::make_unique<cache::PagedKvCache>(o, policy_);
  }

  const Setup& s_;
  std::shared_ptr<const cache::Policy> policy_;
  qwen3vl::TextDecoder decoder_;
  qwen3vl::DecodeGraph graph_;
  at::Generator ids_;  // token ids and the synthetic frame, on the CPU
};

}  // namespace

void BenchOptions::validate() const {
  TRIMVL_CHECK_ARG(!contexts.empty(), "--contexts: give at least one context length");
  for (const int64_t c : contexts) TRIMVL_CHECK_ARG(c > 0, "--contexts: {} is not a positive token count", c);
  TRIMVL_CHECK_ARG(decode_tokens > 0, "--decode-tokens: {} is not a positive count", decode_tokens);
  TRIMVL_CHECK_ARG(warmup >= 0, "--warmup: {} is negative", warmup);
  policy_options(kv);  // throws naming the --kv-* flag
  // A run takes minutes: a missing script is an error now, not after it.
  if (hf_baseline && !std::filesystem::is_regular_file(hf_baseline->script))
    throw Error("no such HF baseline script (--hf-script)", Error::Kind::NotFound).file(hf_baseline->script.string());
}

BenchReport run_bench(const BenchOptions& options) {
  options.validate();
  const auto policy = cache::make_policy(policy_options(options.kv));
  // Configs first (a missing file or key is an error before any weight exists).
  Setup s{.options = options,
          .text = qwen3vl::TextConfig::load(options.config),
          .vision_config = vision::qwen3vl::load_vision_config(options.config),
          .prompt = qwen3vl::PromptConfig::from_config_json(options.config),
          .device = parse_device(options.device),
          .dtype = parse_dtype(options.dtype),
          .tensors = {},
          .fill_chunk = options.kv.prefill_chunk.value_or(kDefaultFillChunk)};
  const int64_t longest = *std::max_element(options.contexts.begin(), options.contexts.end());
  TRIMVL_CHECK_ARG(longest + options.warmup + options.decode_tokens <= s.text.max_position_embeddings,
                   "--contexts: {} + {} warm-up + {} decode tokens exceed the model's {} positions ({})", longest,
                   options.warmup, options.decode_tokens, s.text.max_position_embeddings, options.config.string());
  TRIMVL_CHECK_ARG(s.vision_config.out_hidden_size == s.text.hidden_size,
                   "{}: vision_config.out_hidden_size {} differs from text_config.hidden_size {}",
                   options.config.string(), s.vision_config.out_hidden_size, s.text.hidden_size);
  s.tensors = qwen3vl_tensors(s.text, s.vision_config);

  c10::InferenceMode no_autograd;
  BenchReport report;
  report.date = utc_now();
  report.version = TRIMVL_VERSION;
  report.config = options.config.string();
  report.device = s.device.str();
  report.dtype = dtype_name(s.dtype);
  report.intra_op_threads = fit_host_threads(s.device);
  report.hardware_threads = static_cast<int>(std::thread::hardware_concurrency());
  report.memory_stats = s.device.is_cuda();
  report.cuda_graphs = options.cuda_graphs && s.device.is_cuda();
  {
    const io::RandomWeights sizes(s.tensors, s.dtype, at::kCPU, options.seed);
    report.parameters = sizes.numel();
    report.weight_bytes = sizes.nbytes();
    // Tied: lm_head reads the whole embedding table. Untied: lm_head.weight, and one embedding row.
    report.decode_weight_bytes = sizes.nbytes("model.language_model.") + sizes.nbytes("lm_head.") -
                                 (s.text.tie_word_embeddings ? 0 : sizes.nbytes("model.language_model.embed_tokens."));
  }
  report.copy_bandwidth = copy_bandwidth(s.device);
  report.matmul_step_s = matmul_step_seconds(s.text, s.dtype, s.device);
  log::info("bench: {} parameters, {} on {}; copy bandwidth {:.0f} GB/s; host: {} intra-op threads of {}",
            report.parameters, report.dtype, report.device, report.copy_bandwidth / 1e9, report.intra_op_threads,
            report.hardware_threads);

  // Released before the baseline runs (below); each policy's decoder goes at the end of its turn.
  std::optional<vision::qwen3vl::VisionModel> vision = vision::qwen3vl::VisionModel::load(
      io::RandomWeights(s.tensors, s.dtype, s.device, options.seed), s.vision_config, s.dtype, s.device);
  s.vision = &*vision;

  std::vector<std::shared_ptr<const cache::Policy>> policies;
  if (!options.policy_only) policies.push_back(cache::make_policy(cache::PolicyOptions{}));
  if (policy->options().kind != cache::PolicyKind::Full || options.policy_only) policies.push_back(policy);
  for (const auto& p : policies) {
    reset_peak_memory(s.device);
    PolicyResult result;
    result.policy = p->describe();
    std::optional<cache::GateCheckpoint> gates;
    int64_t decode_bytes = report.decode_weight_bytes;
    if (const auto type = gates_for(*p)) {
      gates = random_gates(*type, s.text, s.dtype, s.device, options.seed);
      result.gates = std::string(cache::gate_type_name(*type));
      decode_bytes += gate_bytes(*gates);
    }
    PolicyBench bench(s, p, gates ? &*gates : nullptr);
    if (options.warmup > 0) bench.ttft();
    // Every run's phases are kept: the median hides a stalled run, the log and JSON show it.
    std::vector<TtftResult> ttfts;
    for (int i = 0; i < kTtftRuns; ++i) ttfts.push_back(bench.ttft());
    std::sort(ttfts.begin(), ttfts.end(),
              [](const TtftResult& a, const TtftResult& b) { return a.phases().total_s < b.phases().total_s; });
    std::vector<TtftPhases> runs;
    for (const TtftResult& t : ttfts) runs.push_back(t.phases());
    result.ttft = std::move(ttfts[kTtftRuns / 2]);
    result.ttft.runs = std::move(runs);
    std::string totals, visions;
    for (const TtftPhases& run : result.ttft.runs) {
      const char* sep = totals.empty() ? "" : " / ";
      totals += fmt::format("{}{:.1f}", sep, run.total_s * 1e3);
      visions += fmt::format("{}{:.1f} ({:.1f})", sep, run.vision_s * 1e3, run.vision_host_s * 1e3);
    }
    log::info("bench: {}: TTFT {:.1f} ms, the median of {} ms; their vision encoder {} ms (in parentheses: until "
              "its work was queued)",
              result.policy, result.ttft.phases().total_s * 1e3, totals, visions);
    if (!options.profile_dir.empty()) bench.profile_ttft();
    for (const int64_t context : options.contexts) {
      result.decode.push_back(bench.decode(context, decode_bytes, report.copy_bandwidth));
      log::info("bench: {}: context {}: {:.1f} tok/s", result.policy, context, result.decode.back().tokens_per_s);
    }
    result.peak_memory_bytes = peak_memory(s.device);
    report.runs.push_back(std::move(result));
  }
  s.vision = nullptr;
  vision.reset();
  // The caching allocator keeps what the models used; the baseline, another process, needs it.
  if (s.device.is_cuda()) at::accelerator::emptyCache();
  if (options.hf_baseline) attach_hf_baseline(report, run_hf_baseline(report, options));
  return report;
}

std::string bench_json(const BenchReport& r) {
  using nlohmann::json;
  const auto optional = [](const auto& v) { return v ? json(*v) : json(nullptr); };
  const auto evictions = [](const EvictionTiming& e) { return json{{"events", e.events}, {"seconds", e.seconds}}; };
  const auto phases = [](const TtftPhases& t) {
    return json{{"preprocess_seconds", t.preprocess_s},
                {"vision_seconds", t.vision_s},
                {"vision_host_seconds", t.vision_host_s},
                {"prefill_seconds", t.prefill_s},
                {"total_seconds", t.total_s}};
  };
  json runs = json::array();
  for (const auto& p : r.runs) {
    json decode = json::array();
    for (const auto& d : p.decode)
      decode.push_back({{"context", d.context},
                        {"fill_seconds", d.fill_s},
                        {"steps", d.steps},
                        {"decode_seconds", d.decode_s},
                        {"tokens_per_second", d.tokens_per_s},
                        {"cached_tokens", d.cached_tokens},
                        {"kv_bytes", d.kv_bytes},
                        {"bytes_per_token", d.bytes_per_token},
                        {"hbm_floor_fraction", d.floor_fraction},
                        {"fill_evictions", evictions(d.fill_evictions)},
                        {"decode_evictions", evictions(d.decode_evictions)},
                        {"peak_memory_bytes", optional(d.peak_memory_bytes)},
                        {"graph_replays", d.graph_replays},
                        {"graph_captures", d.graph_captures},
                        {"hf_ratio", optional(d.hf_ratio)}});
    const TtftResult& t = p.ttft;
    // The median run's phases at the top, beside every run's.
    json ttft = phases(t.phases());
    ttft["runs"] = json::array();
    for (const TtftPhases& run : t.runs) ttft["runs"].push_back(phases(run));
    ttft.update({{"image_tokens", t.image_tokens},
                 {"prompt_tokens", t.prompt_tokens},
                 {"kv_bytes", t.kv_bytes},
                 {"evictions", evictions(t.evictions)},
                 {"hf_ratio", optional(t.hf_ratio)}});
    runs.push_back({{"policy", p.policy},
                    {"gates", p.gates.empty() ? json(nullptr) : json(p.gates)},
                    {"ttft", std::move(ttft)},
                    {"decode", std::move(decode)},
                    {"peak_memory_bytes", optional(p.peak_memory_bytes)}});
  }
  // The script's JSON as it wrote it, plus how it ran; a failed run keeps the command and the error.
  json hf = nullptr;
  if (r.hf_baseline) {
    const HfBaseline& b = *r.hf_baseline;
    hf = b.error.empty() ? json::parse(b.json) : json::object();
    hf["command"] = b.command;
    if (!b.error.empty()) hf["error"] = b.error;
  }
  const json out = {{"date", r.date},
                    {"trimvl_version", r.version},
                    {"config", r.config},
                    {"device", r.device},
                    {"dtype", r.dtype},
                    {"parameters", r.parameters},
                    {"weight_bytes", r.weight_bytes},
                    {"decode_weight_bytes", r.decode_weight_bytes},
                    {"copy_bandwidth_bytes_per_second", r.copy_bandwidth},
                    {"matmul_step_seconds", r.matmul_step_s ? json(*r.matmul_step_s) : json(nullptr)},
                    {"host_threads", {{"intra_op", r.intra_op_threads}, {"hardware", r.hardware_threads}}},
                    {"memory_stats", r.memory_stats},
                    {"cuda_graphs", r.cuda_graphs},
                    {"runs", std::move(runs)},
                    {"hf_baseline", std::move(hf)}};
  return out.dump(2) + "\n";
}

namespace {

// The baseline's section: its numbers beside ours, and each ratio as ours over theirs in speed.
std::string hf_table(const BenchReport& r) {
  const HfBaseline& hf = *r.hf_baseline;
  if (!hf.error.empty()) return "\nHF transformers baseline: failed, no ratios (the error follows)\n";
  std::string out = fmt::format("\nHF transformers baseline (transformers {}, {}) | torch {} | {} on {}\n",
                                hf.transformers_version, hf.attn_implementation, hf.torch_version, r.dtype,
                                hf.device_name);
  out +=
      "TTFT ratio = HF (vision + prefill + first token, given pixel_values) / ours (vision + prefill + first token, "
      "preprocess excluded); decode ratio = our tok/s / HF tok/s; > 1: trimvl is faster\n";
  out += fmt::format("{:<36} {:>7} {:>15} {:>11} {:>8}\n", "policy", "tokens", "ours (no prep)", "HF", "ratio");
  for (const auto& p : r.runs)
    out += fmt::format("{:<36} {:>7} {:>12.1f} ms {:>8.1f} ms {:>7.2f}x\n", p.policy, p.ttft.prompt_tokens,
                       (p.ttft.phases().vision_s + p.ttft.phases().prefill_s) * 1e3, hf.ttft_s * 1e3,
                       p.ttft.hf_ratio.value_or(0));
  out += fmt::format("{:<36} {:>8} {:>9} {:>9} {:>8}\n", "policy", "context", "tok/s", "HF tok/s", "ratio");
  for (const auto& p : r.runs)
    for (size_t i = 0; i < p.decode.size(); ++i)
      out += fmt::format("{:<36} {:>8} {:>9.1f} {:>9.1f} {:>7.2f}x\n", p.policy, p.decode[i].context,
                         p.decode[i].tokens_per_s, hf.decode.at(i).tokens_per_s, p.decode[i].hf_ratio.value_or(0));
  return out;
}

}  // namespace

std::string bench_table(const BenchReport& r) {
  const auto gib = [](int64_t bytes) {
    const auto b = static_cast<double>(bytes);
    return b >= (1 << 30) ? fmt::format("{:.2f} GiB", b / (1 << 30)) : fmt::format("{:.1f} MiB", b / (1 << 20));
  };
  const auto params = static_cast<double>(r.parameters);
  std::string out = fmt::format(
      "trimvl bench {} | {} | {} on {} | {} parameters ({}), a decode step reads {} of weights | copy "
      "bandwidth {:.0f} GB/s\n",
      r.date, r.config, r.dtype, r.device,
      params >= 1e9 ? fmt::format("{:.2f} B", params / 1e9) : fmt::format("{:.2f} M", params / 1e6),
      gib(r.weight_bytes), gib(r.decode_weight_bytes), r.copy_bandwidth / 1e9);
  if (r.matmul_step_s)
    out += fmt::format("a decode step's matrix products alone (one CUDA graph): {:.2f} ms, {:.1f}% of the weights' HBM floor\n",
                       *r.matmul_step_s * 1e3,
                       100.0 * static_cast<double>(r.decode_weight_bytes) / r.copy_bandwidth / *r.matmul_step_s);
  out += fmt::format("\nTTFT: one {}x{} image + {} question tokens (preprocess + vision + prefill + first token)\n",
                     kTtftImageSide, kTtftImageSide, kTtftQuestionTokens);
  out += fmt::format("{:<36} {:>7} {:>11} {:>11} {:>11} {:>11}\n", "policy", "tokens", "preprocess", "vision",
                     "prefill", "total");
  for (const auto& p : r.runs)
    out += fmt::format("{:<36} {:>7} {:>8.1f} ms {:>8.1f} ms {:>8.1f} ms {:>8.1f} ms\n", p.policy, p.ttft.prompt_tokens,
                       p.ttft.phases().preprocess_s * 1e3, p.ttft.phases().vision_s * 1e3,
                       p.ttft.phases().prefill_s * 1e3, p.ttft.phases().total_s * 1e3);
  out += "\nDecode after a synthetic prefill of `context` tokens\n";
  out += fmt::format("{:<36} {:>8} {:>9} {:>9} {:>11} {:>10} {:>10} {:>18} {:>11}\n", "policy", "context", "tok/s",
                     "ms/tok", "KV held", "KV tokens", "HBM floor", "evictions fill|dec", "peak mem");
  for (const auto& p : r.runs)
    for (const auto& d : p.decode) {
      const EvictionTiming& f = d.fill_evictions;
      const EvictionTiming& e = d.decode_evictions;
      out += fmt::format(
          "{:<36} {:>8} {:>9.1f} {:>9.2f} {:>11} {:>10} {:>9.1f}% {:>18} {:>11}\n", p.policy, d.context, d.tokens_per_s,
          1e3 / d.tokens_per_s, gib(d.kv_bytes), d.cached_tokens, 100.0 * d.floor_fraction,
          fmt::format("{} ({:.0f} ms)|{} ({:.0f} ms)", f.events, f.seconds * 1e3, e.events, e.seconds * 1e3),
          d.peak_memory_bytes ? gib(*d.peak_memory_bytes) : std::string("n/a"));
    }
  if (!r.memory_stats) out += "\npeak memory: n/a (device allocator statistics exist on CUDA only)\n";
  if (r.hf_baseline) out += hf_table(r);
  return out;
}

}  // namespace trimvl::app
