#include "vision/qwen3vl/image_processor.h"

#include "kernels/runtime/error.h"
#include "vision/qwen3vl/patchify.h"

namespace trimvl::vision::qwen3vl {

ProcessedImage process_image(const Frames& image, const ImageProcessorConfig& config, c10::Device device) {
  try {
    TRIMVL_CHECK_ARG(image.rgb.defined() && image.rgb.dim() == 4, "no image: expected uint8 RGB frames [1, H, W, 3]");
    TRIMVL_CHECK_ARG(image.rgb.size(0) == 1, "an image has one frame, got {} (process a video as a video)",
                     image.rgb.size(0));
    const ImageSize size = smart_resize_image(image.rgb.size(1), image.rgb.size(2), config.patches.factor(),
                                              config.patches.min_pixels, config.patches.max_pixels);
    Patches patches = patchify(image.rgb, size, config.patches, device);
    return {std::move(patches.pixel_values), patches.grid, size};
  } catch (Error& e) {
    if (!image.source.empty() && e.file().empty()) e.file(image.source);
    throw;
  }
}

}  // namespace trimvl::vision::qwen3vl
