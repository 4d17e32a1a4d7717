#pragma once
// A Qwen3-VL prompt as the model consumes it: the rendered chat (chat_format.h) with each media
// placeholder expanded and tokenized exactly as transformers 4.57.1's Qwen3VLProcessor does, plus
// where every token came from.
//
//   image:  <|vision_start|><|image_pad|>×(t·h·w / merge²)<|vision_end|>
//   video:  per temporal group g:  "<{time_g:.1f} seconds>"<|vision_start|><|video_pad|>×(h·w / merge²)<|vision_end|>
//
// The video expansion replaces the template's whole <|vision_start|><|video_pad|><|vision_end|>
// (4.57); transformers 5.x keeps that outer pair around the groups, 2 tokens more per video
// (docs/qwen3vl-prompt.md). time_g is the group's timestamp from the video processor.
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace trimvl {
class Tokenizer;
}

namespace trimvl::qwen3vl {

// What prompt assembly needs of a checkpoint's config.json. Defaults are transformers 4.57.1's
// (Qwen3VLConfig, its vision and text configs), which a config.json may leave out.
struct PromptConfig {
  int32_t image_token_id = 151655;         // <|image_pad|>
  int32_t video_token_id = 151656;         // <|video_pad|>
  int32_t vision_start_token_id = 151652;  // <|vision_start|>
  int32_t vision_end_token_id = 151653;    // <|vision_end|>
  int64_t spatial_merge_size = 2;          // vision_config: patches per LLM token along each axis
  int64_t max_position_embeddings = 128000;  // text_config: the longest prompt accepted (hub: 262144)

  // Reads the keys above; absent or null ones keep the defaults.
  static PromptConfig from_config_json(const std::filesystem::path& config_json);
};

// A patch grid as the image/video processor reports it (image_grid_thw / video_grid_thw rows):
// temporal groups, patch rows, patch columns.
struct Grid {
  int64_t t = 0, h = 0, w = 0;
};

struct ImageInput {
  Grid grid;  // t must be 1
};

struct VideoInput {
  Grid grid;
  // Each temporal group's timestamp in seconds, grid.t of them, as the video processor computes
  // them for the prompt (HF Qwen3VLProcessor._calculate_timestamps: the mean of the group's first
  // and last frame index over the video's fps; vision/qwen3vl/video_processor.h timestamps_s).
  std::vector<double> group_times;
};

enum class Modality : uint8_t { Text, Image, Video };

// One run of visual tokens: a whole image, or one temporal group of a video. Its rows·cols tokens
// follow in row-major order (the vision merger's output order).
struct VisionBlock {
  int64_t offset = 0;  // index of its first token in input_ids
  Modality modality = Modality::Image;
  int32_t media = 0;   // index among the prompt's images, or among its videos
  int32_t t = 0;       // temporal group (0 for images)
  int32_t rows = 0, cols = 0;  // merged grid: h / merge, w / merge
  double time = 0;     // videos: the group's timestamp, in seconds
  int64_t size() const { return int64_t{rows} * cols; }
};

// Where a token came from; media, t, row and col are -1 for text.
struct TokenSource {
  Modality modality = Modality::Text;
  int32_t media = -1;
  int32_t t = -1, row = -1, col = -1;
  double time = -1;  // videos: the temporal group's timestamp in seconds; -1 otherwise
};

struct Prompt {
  std::vector<int32_t> input_ids;
  std::vector<TokenSource> sources;  // one per token
  std::vector<VisionBlock> blocks;   // in prompt order
};

// Expands and tokenizes `rendered` (add_special_tokens as the processor calls the tokenizer). The
// i-th <|image_pad|> is images[i], the i-th <|video_pad|> videos[i]. Throws Error(InvalidInput)
// naming the media item when the numbers of placeholders and media differ, a pad is not wrapped
// in <|vision_start|>…<|vision_end|> (position ids need the wrapper: a pad typed into message
// text), a grid is not positive or not divisible by the merge size, an image grid has t != 1,
// a video's group timestamps are not grid.t finite, non-negative numbers, or the prompt is
// longer than max_position_embeddings.
Prompt build_prompt(const Tokenizer& tokenizer, std::string_view rendered, std::span<const ImageInput> images,
                    std::span<const VideoInput> videos, const PromptConfig& config);

}  // namespace trimvl::qwen3vl
