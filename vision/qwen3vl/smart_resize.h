#pragma once
// The size a Qwen3-VL processor resizes a frame to: both sides multiples of `factor` (patch size x
// merge size), the pixel count inside [min_pixels, max_pixels], the aspect ratio kept as nearly as
// that allows. Bit-for-bit transformers 4.57.1 (same double arithmetic, Python's round-half-to-even
// on h/factor and w/factor), including its refusals, which throw InvalidInput:
//   image  models/qwen2_vl/image_processing_qwen2_vl.py  smart_resize
//   video  models/qwen3_vl/video_processing_qwen3_vl.py  smart_resize  (pixels of all frames count)
#include <cstdint>

namespace trimvl::vision::qwen3vl {

struct ImageSize {
  int64_t height = 0, width = 0;
  int64_t pixels() const { return height * width; }
  bool operator==(const ImageSize&) const = default;
};

// Refuses an aspect ratio above 200.
ImageSize smart_resize_image(int64_t height, int64_t width, int64_t factor, int64_t min_pixels, int64_t max_pixels);

// Refuses fewer than `temporal_factor` frames, a side shorter than `factor` and an aspect ratio
// above 200.
ImageSize smart_resize_video(int64_t num_frames, int64_t height, int64_t width, int64_t temporal_factor,
                             int64_t factor, int64_t min_pixels, int64_t max_pixels);

}  // namespace trimvl::vision::qwen3vl
