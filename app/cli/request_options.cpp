#include "app/cli/request_options.h"

#include <cstdio>

#include <fmt/format.h>

namespace trimvl::cli {

void add_engine_options(CLI::App& cmd, app::EngineOptions& engine) {
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
  if (s.kv_bytes > 0) line += fmt::format(" | KV {:.2f} MiB", static_cast<double>(s.kv_bytes) / (1 << 20));
  if (!s.stop_reason.empty()) line += fmt::format(" | stop: {}", s.stop_reason);
  std::fprintf(stderr, "%s\n", line.c_str());
}

}  // namespace trimvl::cli
