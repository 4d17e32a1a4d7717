#pragma once
// The pixel pipeline Qwen3-VL's image and video processors share, as transformers 4.57.1's fast
// processors run it on the CPU (qwen2_vl/image_processing_qwen2_vl_fast.py and
// qwen3_vl/video_processing_qwen3_vl.py, _preprocess), so that pixel_values match bit for bit:
//  1. resize uint8 -> uint8 with ATen's bicubic antialiased kernel (_upsample_bicubic2d_aa,
//     align_corners false), the call torchvision 0.26 makes for uint8 CPU tensors; resizing in
//     float and rounding differs by up to 22 levels;
//  2. rescale and normalize fused, in float32: (x - mean/r) / (std/r), r = rescale_factor, with
//     mean/r and std/r computed in float32 as HF does;
//  3. pad the frames to a multiple of temporal_patch_size by repeating the last one;
//  4. flatten into patches in grid.h's order, each row laid out (channel, frame in group, patch
//     row, patch column): the order of the patch embedding's Conv3d kernel.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/processor_config.h"
#include "vision/qwen3vl/smart_resize.h"

namespace trimvl::vision::qwen3vl {

// At most this many resized pixels per image or video, temporal padding included (1.5 GiB of
// float32 pixel_values), checked before anything is allocated. The hub's settings stay far below
// (16.8M per image, 25.2M per video).
inline constexpr int64_t kMaxPatchedPixels = int64_t{1} << 27;

struct Patches {
  at::Tensor pixel_values;  // [grid.patches(), 3 * temporal_patch_size * patch_size^2] float32
  GridThw grid;
};

// `frames`: uint8 RGB [T, H, W, 3] on the CPU, T >= 1, at most kMaxFramePixels (frames.h) per
// frame; `size`: the smart_resize result, its sides multiples of settings.factor(). The pixel
// values are made on `device`: step 1 runs on the CPU whatever it is, steps 2–4 are single correctly
// rounded float32 operations and copies, the same bits on any device. On CUDA only the uint8 frames
// cross the bus — a quarter of the float32 values' bytes, which the encoder would upload otherwise —
// and a 1024² image's ~4 ms of CPU copies become device kernels (the TTFT, docs/perf.md).
Patches patchify(const at::Tensor& frames, ImageSize size, const PatchSettings& settings,
                 c10::Device device = c10::kCPU);

}  // namespace trimvl::vision::qwen3vl
