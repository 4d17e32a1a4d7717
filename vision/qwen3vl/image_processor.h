#pragma once
// Qwen3-VL's image processor: transformers 4.57.1 Qwen2VLImageProcessorFast, the class the hub's
// preprocessor_config.json names, as it runs on the CPU (bit-exact pixel_values, see patchify.h).
// An image is resized to smart_resize_image's size and duplicated across the temporal patch.
#include <ATen/core/Tensor.h>

#include "vision/frames.h"
#include "vision/qwen3vl/grid.h"
#include "vision/qwen3vl/processor_config.h"
#include "vision/qwen3vl/smart_resize.h"

namespace trimvl::vision::qwen3vl {

struct ProcessedImage {
  at::Tensor pixel_values;  // [grid.patches(), 3 * temporal_patch_size * patch_size^2] float32, on the device asked for
  GridThw grid;             // t = 1
  ImageSize resized;        // the frame size the patches cover
};

// `image`: one frame ([1, H, W, 3]). Errors (a video given as an image, an aspect ratio above 200,
// a size over kMaxPatchedPixels) name image.source. Several images for one encoder call are
// concatenated along dim 0 in order, as HF's processor returns them. `device`: where the pixel
// values are made (patchify.h; the same bits on any device).
ProcessedImage process_image(const Frames& image, const ImageProcessorConfig& config, c10::Device device = c10::kCPU);

}  // namespace trimvl::vision::qwen3vl
