#pragma once
// Still images (PNG, JPEG, BMP) decoded with OpenCV into the RGB that transformers 4.57.1's
// load_image hands the Qwen3-VL processor: PIL.Image.open, ImageOps.exif_transpose, convert("RGB").
//
//   EXIF orientation   applied (OpenCV's IMREAD_COLOR does, as exif_transpose).
//   alpha (RGBA, LA)   dropped, not composited: convert("RGB") discards it.
//   palette (P)        expanded to the palette colours; a tRNS transparency is dropped.
//   grey (L)           replicated into R = G = B.
//   16-bit PNG with    the high byte of each sample (PIL reads "RGB;16B", "RGBA;16B", "LA;16B" that
//   colour or alpha    way; libpng's strip_16, which OpenCV uses, too).
//   16-bit grey PNG    clipped to 255, not scaled: PIL opens it as mode I;16, whose conversion to
//                      RGB saturates. Reproduced here because it is what the model sees from HF.
//
// JPEG pixels depend on the libjpeg build (IDCT and upsampling); tests/vision/media_golden_test.cpp
// states the tolerance against PIL's. Dimensions are read from the header and checked against
// kMaxFramePixels before OpenCV decodes anything.
#include <filesystem>

#include "vision/frames.h"

namespace trimvl::vision::media {

// One frame: rgb [1, H, W, 3], fps 0, timestamps {0}. Throws trimvl::Error naming the file for a
// missing, empty, truncated, corrupt, oversized or unsupported image.
Frames decode_image(const std::filesystem::path& path);

}  // namespace trimvl::vision::media
