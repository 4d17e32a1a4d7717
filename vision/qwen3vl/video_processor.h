#pragma once
// Qwen3-VL's video processor: transformers 4.57.1 Qwen3VLVideoProcessor as it runs on the CPU --
// frame sampling (sample_frames), one resize for all frames (smart_resize_video), then the pixel
// pipeline of patchify.h (bit-exact pixel_values) -- plus the per-group timestamps that
// Qwen3VLProcessor writes into the prompt ("<1.4 seconds>").
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "vision/frames.h"
#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/processor_config.h"
#include "vision/qwen3vl/smart_resize.h"

namespace trimvl::vision::qwen3vl {

struct ProcessedVideo {
  at::Tensor pixel_values;  // [grid.patches(), 3 * temporal_patch_size * patch_size^2] float32, on the device asked for
  GridThw grid;             // t = temporal groups (sampled frames / temporal_patch_size, rounded up)
  ImageSize resized;
  std::vector<int64_t> frame_indices;  // the sampled frames, as indices into the source video
  std::vector<double> timestamps_s;    // per temporal group, in seconds (see group_timestamps)
};

// Which frames of a video of `total_frames` at `video_fps` the processor keeps (sample_frames):
// n = int(total / video_fps * config.fps) clamped to [min_frames, max_frames] and to total (or
// config.num_frames as given, or every frame up to max_frames when neither is set), then
// numpy.linspace(0, total - 1, n) rounded half to even. An unknown rate (video_fps <= 0) is taken
// as 24 fps with a warning, as HF does.
std::vector<int64_t> sample_frame_indices(int64_t total_frames, double video_fps, const VideoProcessorConfig& config);

// Qwen3VLProcessor._calculate_timestamps: the indices padded by repeating the last to a multiple
// of `merge_size` (4.57 groups by the merge size, which equals temporal_patch_size in every
// released config), each taken as index / video_fps, then per group the mean of its first and last.
std::vector<double> group_timestamps(std::vector<int64_t> frame_indices, double video_fps, int64_t merge_size);

// Samples `video`'s frames, then processes them. Errors (fewer than temporal_patch_size sampled
// frames, sides under the 32 px factor, an aspect ratio above 200, a size over kMaxPatchedPixels)
// name video.source. `device`: where the pixel values are made (patchify.h).
ProcessedVideo process_video(const Frames& video, const VideoProcessorConfig& config, c10::Device device = c10::kCPU);

// For a decoder that decoded only the sampled frames: `sampled` [n, H, W, 3] uint8 holds frames
// `frame_indices` of a video at `video_fps`. Same result as process_video on the whole video.
ProcessedVideo process_sampled_video(const at::Tensor& sampled, std::vector<int64_t> frame_indices, double video_fps,
                                     const VideoProcessorConfig& config, c10::Device device = c10::kCPU);

}  // namespace trimvl::vision::qwen3vl
