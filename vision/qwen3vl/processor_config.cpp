#include "vision/qwen3vl/processor_config.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::vision::qwen3vl {
namespace {

constexpr int64_t kRgbChannels = 3;
constexpr int64_t kBicubic = 3;  // PILImageResampling.BICUBIC

std::string describe(const nlohmann::json& v) {
  std::string text = v.dump();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// image_mean / image_std: one number for all channels, or one per channel.
std::vector<double> per_channel(const nlohmann::json& json, const ConfigObject& c, std::string_view key,
                                std::vector<double> fallback) {
  if (!c.has(key)) return fallback;
  const nlohmann::json& v = json.at(std::string(key));
  std::vector<double> values;
  if (v.is_number()) values.assign(kRgbChannels, v.get<double>());
  else if (v.is_array() && v.size() == kRgbChannels)
    for (const auto& x : v) {
      if (!x.is_number()) break;
      values.push_back(x.get<double>());
    }
  if (values.size() != kRgbChannels)
    throw c.error(key, fmt::format("expected a number or a list of {} numbers (R, G, B), got {}", kRgbChannels,
                                   describe(v)));
  for (double x : values)
    if (!std::isfinite(x)) throw c.error(key, fmt::format("{} is not a finite number", describe(v)));
  return values;
}

void require(const ConfigObject& c, std::string_view key, bool supported, std::string_view why) {
  if (!supported)
    throw Error(fmt::format("key '{}': {}", c.key_path(key), why), Error::Kind::Unsupported).file(c.file());
}

// The keys both processors read, over the class defaults `s`. `min_key` / `max_key` name keys
// that override size's two entries (the image processor's legacy min_pixels / max_pixels).
PatchSettings parse_patch_settings(const nlohmann::json& json, const ConfigObject& c, PatchSettings s,
                                   const char* min_key = nullptr, const char* max_key = nullptr) {
  s.patch_size = c.integer("patch_size", s.patch_size);
  s.temporal_patch_size = c.integer("temporal_patch_size", s.temporal_patch_size);
  s.merge_size = c.integer("merge_size", s.merge_size);
  c.require_positive("patch_size", s.patch_size);
  c.require_positive("temporal_patch_size", s.temporal_patch_size);
  c.require_positive("merge_size", s.merge_size);
  // 4.57 applies the overrides to size first and then insists on both of its keys.
  const std::optional<ConfigObject> size = c.object("size");
  const auto pixels = [&](const char* override_key, const char* size_key, int64_t fallback) {
    if (override_key != nullptr && c.has(override_key)) {
      const int64_t value = c.integer(override_key);
      c.require_positive(override_key, value);
      return value;
    }
    if (!size) return fallback;
    if (!size->has(size_key)) throw c.error("size", "must contain 'shortest_edge' and 'longest_edge' (pixel counts)");
    const int64_t value = size->integer(size_key);
    size->require_positive(size_key, value);
    return value;
  };
  s.min_pixels = pixels(min_key, "shortest_edge", s.min_pixels);
  s.max_pixels = pixels(max_key, "longest_edge", s.max_pixels);
  s.image_mean = per_channel(json, c, "image_mean", s.image_mean);
  s.image_std = per_channel(json, c, "image_std", s.image_std);
  for (double x : s.image_std)
    if (x == 0) throw c.error("image_std", "a standard deviation of 0 would divide by zero");
  s.rescale_factor = c.number("rescale_factor", s.rescale_factor);
  if (!(std::isfinite(s.rescale_factor) && s.rescale_factor > 0))
    throw c.error("rescale_factor", fmt::format("must be a positive number, got {}", s.rescale_factor));

  require(c, "do_resize", c.boolean("do_resize", true), "false is not supported (Qwen3-VL resizes every frame)");
  require(c, "do_rescale", c.boolean("do_rescale", true), "false is not supported (trimvl rescales and normalizes)");
  require(c, "do_normalize", c.boolean("do_normalize", true),
          "false is not supported (trimvl rescales and normalizes)");
  if (c.has("resample")) {
    const int64_t resample = c.integer("resample");
    require(c, "resample", resample == kBicubic,
            fmt::format("{} is not supported; trimvl resizes as Qwen3-VL does, bicubic (3)", resample));
  }
  return s;
}

}  // namespace

ImageProcessorConfig default_image_processor_config() {
  ImageProcessorConfig c;
  c.patches.patch_size = 14;
  c.patches.min_pixels = 56 * 56;
  c.patches.max_pixels = 28 * 28 * 1280;
  c.patches.image_mean = {0.48145466, 0.4578275, 0.40821073};  // OpenAI CLIP
  c.patches.image_std = {0.26862954, 0.26130258, 0.27577711};
  return c;
}

VideoProcessorConfig default_video_processor_config() {
  VideoProcessorConfig c;
  c.patches.patch_size = 16;
  c.patches.min_pixels = 128 * 32 * 32;
  c.patches.max_pixels = 32 * 32 * 768;
  c.patches.image_mean = {0.5, 0.5, 0.5};
  c.patches.image_std = {0.5, 0.5, 0.5};
  return c;
}

ImageProcessorConfig parse_image_processor_config(const nlohmann::json& json, const std::string& file) {
  const ConfigObject c(json, file);
  ImageProcessorConfig config = default_image_processor_config();
  config.patches = parse_patch_settings(json, c, config.patches, "min_pixels", "max_pixels");
  return config;
}

VideoProcessorConfig parse_video_processor_config(const nlohmann::json& json, const std::string& file) {
  const ConfigObject c(json, file);
  VideoProcessorConfig config = default_video_processor_config();
  config.patches = parse_patch_settings(json, c, config.patches);
  // null is None: no rate (then num_frames, or every frame up to max_frames).
  if (c.contains("fps")) config.fps = c.has("fps") ? std::optional(c.number("fps")) : std::nullopt;
  config.num_frames = c.optional_integer("num_frames");
  config.min_frames = c.integer("min_frames", config.min_frames);
  config.max_frames = c.integer("max_frames", config.max_frames);
  if (config.fps && !(std::isfinite(*config.fps) && *config.fps > 0))
    throw c.error("fps", fmt::format("must be a positive number of frames per second, got {}", *config.fps));
  if (config.num_frames) c.require_positive("num_frames", *config.num_frames);
  c.require_positive("min_frames", config.min_frames);
  c.require_positive("max_frames", config.max_frames);
  if (config.fps && config.num_frames)
    throw c.error("num_frames", "num_frames and fps are mutually exclusive (set \"fps\": null to sample a fixed count)");
  require(c, "do_sample_frames", c.boolean("do_sample_frames", true),
          "false is not supported (4.57 cannot time unsampled frames for the prompt)");
  return config;
}

ImageProcessorConfig load_image_processor_config(const std::filesystem::path& preprocessor_config_json) {
  return parse_image_processor_config(read_json_file(preprocessor_config_json), preprocessor_config_json.string());
}

VideoProcessorConfig load_video_processor_config(const std::filesystem::path& video_preprocessor_config_json) {
  return parse_video_processor_config(read_json_file(video_preprocessor_config_json),
                                      video_preprocessor_config_json.string());
}

}  // namespace trimvl::vision::qwen3vl
