#include "app/cli/request_options.h"

#include <cstdio>

#include <fmt/format.h>

namespace trimvl::cli {

namespace {

std::string kv_size(int64_t bytes) {
  const auto b = static_cast<double>(bytes);
  return bytes < (1 << 20) ? fmt::format("{:.1f} KiB", b / 1024) : fmt::format("{:.2f} MiB", b / (1 << 20));
}

void add_kv_options(CLI::App& cmd, app::KvCacheSettings& kv, KvSweepLists* sweep) {
  const std::string group = "KV cache (budgets count tokens per (layer, kv head))";
  const std::string policy_help =
      "full (keep everything), trimkv (per-head budget, learned retention), dbtrimkv (one global budget "
      "shared by layers, heads and modalities), streaming (sinks + recent), snapkv, h2o";
  const std::string budget_help = "M: tokens kept per (layer, kv head); dbtrimkv keeps layers x kv heads x M in all";
  const auto policies = CLI::IsMember({"full", "trimkv", "dbtrimkv", "streaming", "snapkv", "h2o"});
  if (sweep) {
    cmd.add_option("--kv-policy", sweep->policies, policy_help + "; a comma-separated list sweeps them")
        ->check(policies)
        ->delimiter(',')
        ->capture_default_str()
        ->group(group);
    cmd.add_option("--kv-budget", sweep->budgets, budget_help + "; a comma-separated list sweeps them")
        ->delimiter(',')
        ->group(group);
  } else {
    cmd.add_option("--kv-policy", kv.policy, policy_help)
        ->check(policies)
        ->envname("TRIMVL_KV_POLICY")
        ->capture_default_str()
        ->group(group);
    cmd.add_option("--kv-budget", kv.budget, budget_help)->envname("TRIMVL_KV_BUDGET")->group(group);
  }
  cmd.add_option("--kv-buffer", kv.buffer, "B: tokens per head held beyond M before an eviction runs (default 128)")
      ->group(group);
  cmd.add_option("--kv-strategy", kv.strategy,
                 "dbtrimkv: fixed_budget (global top-k at M + B) or threshold (keep scores >= log alpha every B tokens)")
      ->check(CLI::IsMember({"fixed_budget", "threshold"}))
      ->group(group);
  cmd.add_option("--kv-alpha", kv.alpha, "dbtrimkv threshold: alpha in (0, 1) (default 0.8)")->group(group);
  cmd.add_option("--kv-min-per-head", kv.min_per_head, "dbtrimkv: tokens every (layer, kv head) keeps at least")
      ->group(group);
  cmd.add_option("--kv-lookahead", kv.lookahead, "trimkv/dbtrimkv: score retention over the next n steps (default 1)")
      ->group(group);
  cmd.add_option("--kv-window", kv.window,
                 "trimkv/h2o: always keep each head's last W tokens; snapkv: observation window (default 32)")
      ->group(group);
  cmd.add_option("--kv-sinks", kv.sinks, "streaming: first tokens always kept (default 4)")->group(group);
  cmd.add_option("--prefill-chunk", kv.prefill_chunk,
                 "Prefill N tokens per forward and evict between them, so the cache never holds more than budget + "
                 "buffer + one chunk (default: the whole prompt, then evict, as the reference does)")
      ->group(group);
  cmd.add_option("--gates", kv.gates,
                 "Retention gates: a directory with trimkv_weights.pth and config.json (default: those beside the "
                 "model, or the model itself when it is a gate directory)")
      ->group(group);
}

}  // namespace

void add_engine_options(CLI::App& cmd, app::EngineOptions& engine, KvSweepLists* sweep) {
  const std::string model_group = "Model";
  cmd.add_option("-m,--model", engine.model,
                 "Snapshot or gate directory, or a hub id (Org/Name) present in the local Hugging Face cache")
      ->required()
      ->group(model_group);
  cmd.add_option("--device", engine.device, "cpu, cuda or cuda:N")
      ->envname("TRIMVL_DEVICE")
      ->capture_default_str()
      ->group(model_group);
  cmd.add_option("--dtype", engine.dtype, "bf16, fp16 or fp32")
      ->envname("TRIMVL_DTYPE")
      ->capture_default_str()
      ->group(model_group);
  add_kv_options(cmd, engine.kv, sweep);
}

void RequestOptions::add_to(CLI::App& cmd) {
  add_engine_options(cmd, engine);
  const std::string input_group = "Input";
  cmd.add_option("-p,--prompt", prompt, "The question")->required()->group(input_group);
  cmd.add_option("--system", system, "A system message before the question")->group(input_group);
  cmd.add_option("--image", images, "An image file (PNG, JPEG, BMP; or frames .safetensors); repeatable, placed before the question")
      ->group(input_group);
  cmd.add_option("--video", videos, "A video file (or frames .safetensors); repeatable, after the images")->group(input_group);
  cmd.add_option("--fps", fps, "Video frames sampled per second (default: the model's video processor config)")
      ->check(CLI::PositiveNumber)
      ->group(input_group);
  cmd.add_option("--max-frames", max_frames, "At most this many sampled frames per video")
      ->check(CLI::PositiveNumber)
      ->group(input_group);

  cmd.add_option("--dump-logits", dump_logits,
                 "Write the per-token logits (float32 \"logits\" [N, vocab], int32 \"tokens\" [N]) to this "
                 ".safetensors file")
      ->group("Output");
}

void add_generation_options(CLI::App& cmd, app::GenerationSettings& g) {
  const std::string group = "Generation (default: the model's generation_config.json)";
  cmd.add_option("--max-new-tokens", g.max_new_tokens, "At most this many tokens (default 512)")
      ->check(CLI::PositiveNumber)
      ->group(group);
  cmd.add_option("--temperature", g.temperature, "0: greedy; > 0 samples")->check(CLI::NonNegativeNumber)->group(group);
  cmd.add_option("--top-k", g.top_k, "Keep the k most likely tokens (0: off)")->check(CLI::NonNegativeNumber)->group(group);
  cmd.add_option("--top-p", g.top_p, "Nucleus: keep the smallest set of this much probability")
      ->check(CLI::Range(0.0, 1.0))
      ->group(group);
  cmd.add_option("--min-p", g.min_p, "Drop tokens below this fraction of the top probability")
      ->check(CLI::Range(0.0, 1.0))
      ->group(group);
  cmd.add_option("--repetition-penalty", g.repetition_penalty, "> 1 discourages repeating prompt and answer tokens")
      ->check(CLI::PositiveNumber)
      ->group(group);
  cmd.add_option("--seed", g.seed, "Sampling seed (default: a random one, logged)")->group(group);
  cmd.add_option("--stop", g.stop, "Stop when the answer contains this text; repeatable")->group(group);
}

app::Request RequestOptions::request() const {
  app::Request request;
  if (!system.empty()) request.messages.push_back({app::Role::System, {app::Part::of_text(system)}});
  app::Message user{app::Role::User, {}};
  for (const auto& image : images) user.parts.push_back(app::Part::image(image));
  for (const auto& video : videos) user.parts.push_back(app::Part::video(video, fps, max_frames));
  user.parts.push_back(app::Part::of_text(prompt));
  request.messages.push_back(std::move(user));
  return request;
}

void write_piece(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
}

void print_stats(const app::Stats& s) {
  std::string line = fmt::format("tokens: {} prompt ({} text, {} image, {} video), {} generated", s.prompt_tokens,
                                 s.text_tokens, s.image_tokens, s.video_tokens, s.generated_tokens);
  if (s.media_s > 0) line += fmt::format(" | media {:.2f} s", s.media_s);
  line += fmt::format(" | TTFT {:.2f} s", s.ttft_s);
  if (s.generated_tokens > 1) line += fmt::format(" | {:.1f} tok/s", s.tokens_per_s());
  if (s.kv_bytes > 0) line += fmt::format(" | KV {}", kv_size(s.kv_bytes));
  if (!s.kv_policy.empty() && s.kv_policy != "full")
    line += fmt::format(" | {}: {} tokens held (peak {}, {} peak, {} evictions; text {}, image {}, video {}, "
                        "generated {})",
                        s.kv_policy, s.cached_tokens, s.peak_cached_tokens, kv_size(s.peak_kv_bytes), s.evictions,
                        s.kept_text, s.kept_image, s.kept_video, s.kept_generated);
  if (!s.stop_reason.empty()) line += fmt::format(" | stop: {}", s.stop_reason);
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace trimvl::cli
