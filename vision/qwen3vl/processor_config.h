#pragma once
// Settings of Qwen3-VL's image and video processors, read from a checkpoint's
// preprocessor_config.json and video_preprocessor_config.json. Keys a file leaves out take the
// transformers 4.57.1 class defaults of the processors the hub configs name:
// Qwen2VLImageProcessorFast (patch 14, OpenAI CLIP mean/std, 56*56 .. 28*28*1280 pixels: NOT what
// Qwen3-VL ships, which its hub files override) and Qwen3VLVideoProcessor (patch 16, mean/std 0.5,
// 128*32*32 .. 768*32*32 pixels, 2 fps, 4..768 frames).
//
// Only the processing Qwen3-VL uses is implemented: bicubic resizing (resample 3), rescale and
// normalize both on, frame sampling on for videos. A file asking for anything else is refused
// (Unsupported) rather than processed differently from the reference.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace trimvl::vision::qwen3vl {

// What both processors share: the patch geometry and the pixel arithmetic.
struct PatchSettings {
  int64_t patch_size = 16;
  int64_t temporal_patch_size = 2;
  int64_t merge_size = 2;
  // Bounds on the resized pixel count: of one image, or of all sampled frames of a video. The
  // files call them size.shortest_edge / size.longest_edge although they count pixels.
  int64_t min_pixels = 0, max_pixels = 0;
  std::vector<double> image_mean, image_std;  // one value per RGB channel
  double rescale_factor = 1.0 / 255.0;
  int64_t factor() const { return patch_size * merge_size; }  // resized sides are multiples of this
};

struct ImageProcessorConfig {
  PatchSettings patches;
};

struct VideoProcessorConfig {
  PatchSettings patches;
  std::optional<double> fps = 2.0;    // frames sampled per second of video
  std::optional<int64_t> num_frames;  // or a fixed number of frames (excludes fps)
  int64_t min_frames = 4, max_frames = 768;
};

ImageProcessorConfig default_image_processor_config();  // the class defaults
VideoProcessorConfig default_video_processor_config();

// `json` is the file's content, `file` its path for messages. As in 4.57, the image processor's
// legacy min_pixels / max_pixels keys override size.shortest_edge / size.longest_edge.
ImageProcessorConfig parse_image_processor_config(const nlohmann::json& json, const std::string& file);
VideoProcessorConfig parse_video_processor_config(const nlohmann::json& json, const std::string& file);
ImageProcessorConfig load_image_processor_config(const std::filesystem::path& preprocessor_config_json);
VideoProcessorConfig load_video_processor_config(const std::filesystem::path& video_preprocessor_config_json);

}  // namespace trimvl::vision::qwen3vl
