#include "vision/qwen3vl/video_processor.h"

#include <algorithm>
#include <cmath>

#include <ATen/ATen.h>

#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"
#include "vision/qwen3vl/patchify.h"

namespace trimvl::vision::qwen3vl {
namespace {

// What 4.57 assumes for a video whose metadata has no frame rate.
constexpr double kUnknownFps = 24.0;

double known_fps(double video_fps) {
  if (video_fps > 0) return video_fps;
  log::warn("video has no frame rate; taking {} fps to sample and time its frames, as transformers does", kUnknownFps);
  return kUnknownFps;
}

}  // namespace

std::vector<int64_t> sample_frame_indices(int64_t total_frames, double video_fps, const VideoProcessorConfig& config) {
  TRIMVL_CHECK_ARG(total_frames > 0, "a video without frames");
  int64_t n = 0;
  if (config.num_frames) {
    n = *config.num_frames;
  } else if (config.fps) {
    n = static_cast<int64_t>(static_cast<double>(total_frames) / known_fps(video_fps) * *config.fps);
    n = std::min(std::min(std::max(n, config.min_frames), config.max_frames), total_frames);
  } else {
    n = std::min(std::max(total_frames, config.min_frames), config.max_frames);
  }
  // numpy.linspace(0, total - 1, n): i * step with the end pinned to total - 1; round() is half
  // to even.
  std::vector<int64_t> indices(static_cast<size_t>(n), 0);
  if (n > 1) {
    const double step = static_cast<double>(total_frames - 1) / static_cast<double>(n - 1);
    for (int64_t i = 0; i + 1 < n; ++i)
      indices[static_cast<size_t>(i)] = static_cast<int64_t>(std::nearbyint(static_cast<double>(i) * step));
    indices.back() = total_frames - 1;
  }
  return indices;
}

std::vector<double> group_timestamps(std::vector<int64_t> frame_indices, double video_fps, int64_t merge_size) {
  TRIMVL_CHECK_ARG(!frame_indices.empty() && merge_size > 0, "no frames to time");
  while (frame_indices.size() % static_cast<size_t>(merge_size) != 0) frame_indices.push_back(frame_indices.back());
  const double fps = known_fps(video_fps);
  std::vector<double> groups;
  for (size_t i = 0; i < frame_indices.size(); i += static_cast<size_t>(merge_size)) {
    const double first = static_cast<double>(frame_indices[i]) / fps;
    const double last = static_cast<double>(frame_indices[i + static_cast<size_t>(merge_size) - 1]) / fps;
    groups.push_back((first + last) / 2);
  }
  return groups;
}

ProcessedVideo process_sampled_video(const at::Tensor& sampled, std::vector<int64_t> frame_indices, double video_fps,
                                     const VideoProcessorConfig& config, c10::Device device) {
  TRIMVL_CHECK_ARG(sampled.defined() && sampled.dim() == 4, "no video: expected uint8 RGB frames [T, H, W, 3]");
  TRIMVL_CHECK_ARG(static_cast<int64_t>(frame_indices.size()) == sampled.size(0),
                   "{} frame indices for {} sampled frames", frame_indices.size(), sampled.size(0));
  const PatchSettings& s = config.patches;
  const ImageSize size = smart_resize_video(sampled.size(0), sampled.size(1), sampled.size(2), s.temporal_patch_size,
                                            s.factor(), s.min_pixels, s.max_pixels);
  Patches patches = patchify(sampled, size, s, device);
  std::vector<double> timestamps = group_timestamps(frame_indices, video_fps, s.merge_size);
  return {std::move(patches.pixel_values), patches.grid, size, std::move(frame_indices), std::move(timestamps)};
}

ProcessedVideo process_video(const Frames& video, const VideoProcessorConfig& config, c10::Device device) {
  try {
    TRIMVL_CHECK_ARG(video.rgb.defined() && video.rgb.dim() == 4, "no video: expected uint8 RGB frames [T, H, W, 3]");
    std::vector<int64_t> indices = sample_frame_indices(video.rgb.size(0), video.fps, config);
    const at::Tensor sampled = video.rgb.index_select(0, at::tensor(indices, at::kLong));
    return process_sampled_video(sampled, std::move(indices), video.fps, config, device);
  } catch (Error& e) {
    if (!video.source.empty() && e.file().empty()) e.file(video.source);
    throw;
  }
}

}  // namespace trimvl::vision::qwen3vl
