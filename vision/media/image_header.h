#pragma once
// The pixel dimensions an image file declares, read from its header alone: decoders allocate
// from these numbers, so a hostile header (a 30000 x 30000 PNG of a few hundred bytes) must be
// refused before any decoder sees it. Formats: PNG (IHDR), JPEG (the first SOFn marker), BMP
// (BITMAPINFOHEADER and later).
#include <cstdint>
#include <string_view>

namespace trimvl::vision::media {

struct ImageDims {
  int64_t width = 0, height = 0;
};

// Throws trimvl::Error (no file named: the caller adds it) for an unknown signature or a header
// that is cut short or malformed.
ImageDims read_image_dims(std::string_view bytes);

}  // namespace trimvl::vision::media
