#include "language/qwen3vl/prompt.h"

#include <cmath>

#include <fmt/format.h>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"
#include "language/tokenizer/tokenizer.h"

// Mirrors transformers 4.57.1 models/qwen3_vl/processing_qwen3_vl.py (Qwen3VLProcessor.__call__).

namespace trimvl::qwen3vl {
namespace {

constexpr std::string_view kVisionStart = "<|vision_start|>";
constexpr std::string_view kVisionEnd = "<|vision_end|>";
constexpr std::string_view kImagePad = "<|image_pad|>";
constexpr std::string_view kVideoPad = "<|video_pad|>";

void check_grid(const Grid& g, int64_t merge, std::string_view what) {
  TRIMVL_CHECK_ARG(g.t > 0 && g.h > 0 && g.w > 0, "{}: grid ({}, {}, {}) must be positive", what, g.t, g.h, g.w);
  TRIMVL_CHECK_ARG(g.h % merge == 0 && g.w % merge == 0,
                   "{}: grid ({}, {}, {}) has rows and columns that the merge size {} does not divide", what, g.t, g.h,
                   g.w, merge);
}

// The token id the tokenizer gives a placeholder must be the one config.json names: position ids
// and the embedding scatter find media by these ids.
void check_token(const Tokenizer& tokenizer, std::string_view piece, int32_t config_id, std::string_view key) {
  const auto id = tokenizer.piece_to_id(piece);
  TRIMVL_CHECK_ARG(id && *id == config_id, "{}: the tokenizer has {} as {} but config.json's {} is {}",
                   tokenizer.path().string(), piece, id ? fmt::format("id {}", *id) : std::string("no token"), key,
                   config_id);
}

// The pad at byte `at` of `text` must sit alone inside <|vision_start|>…<|vision_end|>.
void check_wrapped(std::string_view text, std::size_t at, std::string_view pad, std::string_view what) {
  const bool wrapped = at >= kVisionStart.size() && text.substr(at - kVisionStart.size(), kVisionStart.size()) == kVisionStart &&
                       text.substr(at + pad.size(), kVisionEnd.size()) == kVisionEnd;
  TRIMVL_CHECK_ARG(wrapped,
                   "{}: its {} at byte {} of the prompt is not wrapped in {}…{}, which Qwen3-VL's position ids need "
                   "(was it typed into message text?)",
                   what, pad, at, kVisionStart, kVisionEnd);
}

struct MediaBlocks {
  std::vector<VisionBlock> blocks;  // offsets filled in once the ids are known
  std::size_t next = 0;
};

}  // namespace

PromptConfig PromptConfig::from_config_json(const std::filesystem::path& config_json) {
  const nlohmann::json json = read_json_file(config_json);
  const ConfigObject top(json, config_json.string());
  PromptConfig c;
  auto id = [&](std::string_view key, int32_t fallback) {
    const int64_t v = top.integer(key, fallback);
    if (v < 0 || v > INT32_MAX) throw top.error(key, fmt::format("{} is not a token id", v));
    return static_cast<int32_t>(v);
  };
  c.image_token_id = id("image_token_id", c.image_token_id);
  c.video_token_id = id("video_token_id", c.video_token_id);
  c.vision_start_token_id = id("vision_start_token_id", c.vision_start_token_id);
  c.vision_end_token_id = id("vision_end_token_id", c.vision_end_token_id);
  if (const auto vision = top.object("vision_config")) {
    c.spatial_merge_size = vision->integer("spatial_merge_size", c.spatial_merge_size);
    if (c.spatial_merge_size < 1) throw vision->error("spatial_merge_size", "must be positive");
  }
  if (const auto text = top.object("text_config")) {
    c.max_position_embeddings = text->integer("max_position_embeddings", c.max_position_embeddings);
    if (c.max_position_embeddings < 1) throw text->error("max_position_embeddings", "must be positive");
  }
  return c;
}

Prompt build_prompt(const Tokenizer& tokenizer, std::string_view rendered, std::span<const ImageInput> images,
                    std::span<const VideoInput> videos, const PromptConfig& config) {
  const int64_t merge = config.spatial_merge_size;
  MediaBlocks image_blocks, video_blocks;
  for (std::size_t i = 0; i < images.size(); ++i) {
    const std::string what = fmt::format("image {}", i);
    check_grid(images[i].grid, merge, what);
    TRIMVL_CHECK_ARG(images[i].grid.t == 1, "{}: grid ({}, {}, {}) has t = {}; an image is one temporal group", what,
                     images[i].grid.t, images[i].grid.h, images[i].grid.w, images[i].grid.t);
    image_blocks.blocks.push_back({0, Modality::Image, static_cast<int32_t>(i), 0,
                                   static_cast<int32_t>(images[i].grid.h / merge),
                                   static_cast<int32_t>(images[i].grid.w / merge), 0});
  }
  for (std::size_t i = 0; i < videos.size(); ++i) {
    const std::string what = fmt::format("video {}", i);
    const Grid& g = videos[i].grid;
    const std::vector<double>& times = videos[i].group_times;
    check_grid(g, merge, what);
    TRIMVL_CHECK_ARG(static_cast<int64_t>(times.size()) == g.t,
                     "{}: {} group timestamps for a grid ({}, {}, {}) of {} temporal groups", what, times.size(), g.t,
                     g.h, g.w, g.t);
    for (const double t : times)
      TRIMVL_CHECK_ARG(std::isfinite(t) && t >= 0, "{}: timestamp {} is not a finite, non-negative number of seconds",
                       what, t);
    for (int64_t t = 0; t < g.t; ++t)
      video_blocks.blocks.push_back({0, Modality::Video, static_cast<int32_t>(i), static_cast<int32_t>(t),
                                     static_cast<int32_t>(g.h / merge), static_cast<int32_t>(g.w / merge),
                                     times[static_cast<std::size_t>(t)]});
  }

  // The processor's text expansion with one pad per block; the pads, being special tokens, split
  // the tokenizer's input, so widening each to its block afterwards gives the same ids.
  std::string text;
  text.reserve(rendered.size() + 64 * video_blocks.blocks.size());
  std::size_t n_images = 0, n_videos = 0, pos = 0;
  while (pos < rendered.size()) {
    const std::size_t image_at = rendered.find(kImagePad, pos), video_at = rendered.find(kVideoPad, pos);
    const std::size_t at = std::min(image_at, video_at);
    if (at == std::string_view::npos) break;
    if (at == image_at) {
      const std::string what = fmt::format("image {}", n_images);
      TRIMVL_CHECK_ARG(n_images < images.size(), "the prompt has more {} placeholders than the {} images given",
                       kImagePad, images.size());
      check_wrapped(rendered, at, kImagePad, what);
      text.append(rendered.substr(pos, at + kImagePad.size() - pos));
      pos = at + kImagePad.size();
      ++n_images;
    } else {
      const std::string what = fmt::format("video {}", n_videos);
      TRIMVL_CHECK_ARG(n_videos < videos.size(), "the prompt has more {} placeholders than the {} videos given",
                       kVideoPad, videos.size());
      check_wrapped(rendered, at, kVideoPad, what);
      // 4.57.1 replaces the template's whole <|vision_start|><|video_pad|><|vision_end|>.
      text.append(rendered.substr(pos, at - kVisionStart.size() - pos));
      for (const double t : videos[n_videos].group_times)
        text += fmt::format("<{:.1f} seconds>{}{}{}", t, kVisionStart, kVideoPad, kVisionEnd);
      pos = at + kVideoPad.size() + kVisionEnd.size();
      ++n_videos;
    }
  }
  text.append(rendered.substr(std::min(pos, rendered.size())));
  TRIMVL_CHECK_ARG(n_images == images.size(), "the prompt has {} {} placeholders but {} images were given", n_images,
                   kImagePad, images.size());
  TRIMVL_CHECK_ARG(n_videos == videos.size(), "the prompt has {} {} placeholders but {} videos were given", n_videos,
                   kVideoPad, videos.size());
  if (!images.empty()) check_token(tokenizer, kImagePad, config.image_token_id, "image_token_id");
  if (!videos.empty()) check_token(tokenizer, kVideoPad, config.video_token_id, "video_token_id");

  const std::vector<int32_t> ids = tokenizer.encode(text, /*add_special_tokens=*/true);
  int64_t total = static_cast<int64_t>(ids.size());
  for (const auto* media : {&image_blocks, &video_blocks})
    for (const VisionBlock& b : media->blocks) total += b.size() - 1;
  TRIMVL_CHECK_ARG(total <= config.max_position_embeddings,
                   "the prompt is {} tokens, more than the model's max_position_embeddings ({})", total,
                   config.max_position_embeddings);

  Prompt p;
  p.input_ids.reserve(static_cast<std::size_t>(total));
  p.sources.reserve(static_cast<std::size_t>(total));
  for (const int32_t id : ids) {
    MediaBlocks* media = id == config.image_token_id ? &image_blocks : id == config.video_token_id ? &video_blocks : nullptr;
    if (media == nullptr) {
      p.input_ids.push_back(id);
      p.sources.push_back({});
      continue;
    }
    TRIMVL_CHECK(media->next < media->blocks.size(), "tokenizing the expanded prompt gave more pads than blocks");
    VisionBlock block = media->blocks[media->next++];
    block.offset = static_cast<int64_t>(p.input_ids.size());
    for (int32_t r = 0; r < block.rows; ++r)
      for (int32_t c = 0; c < block.cols; ++c) {
        p.input_ids.push_back(id);
        p.sources.push_back({block.modality, block.media, block.t, r, c,
                             block.modality == Modality::Video ? block.time : -1.0});
      }
    p.blocks.push_back(block);
  }
  TRIMVL_CHECK(image_blocks.next == image_blocks.blocks.size() && video_blocks.next == video_blocks.blocks.size(),
               "tokenizing the expanded prompt gave {} image and {} video pads for {} and {} blocks", image_blocks.next,
               video_blocks.next, image_blocks.blocks.size(), video_blocks.blocks.size());
  return p;
}

}  // namespace trimvl::qwen3vl
