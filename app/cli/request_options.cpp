#include "app/cli/request_options.h"

#include <cstdio>

#include <fmt/format.h>

namespace trimvl::cli {

void RequestOptions::add_to(CLI::App& cmd) {
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

  const std::string input_group = "Input";
  cmd.add_option("-p,--prompt", prompt, "The question")->required()->group(input_group);
  cmd.add_option("--system", system, "A system message before the question")->group(input_group);
  cmd.add_option("--image", images, "An image (frames .safetensors); repeatable, placed before the question")
      ->group(input_group);
  cmd.add_option("--video", videos, "A video (frames .safetensors); repeatable, after the images")->group(input_group);
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
