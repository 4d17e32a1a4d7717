#include "vision/media/image_header.h"

#include <cstdlib>

#include <fmt/format.h>

#include "kernels/runtime/error.h"

namespace trimvl::vision::media {
namespace {

uint32_t be16(std::string_view b, size_t at) {
  return (uint32_t{static_cast<uint8_t>(b[at])} << 8) | static_cast<uint8_t>(b[at + 1]);
}
uint32_t be32(std::string_view b, size_t at) { return (be16(b, at) << 16) | be16(b, at + 2); }
uint32_t le32(std::string_view b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + i]);
  return v;
}

ImageDims png_dims(std::string_view b) {
  // Signature (8), IHDR length (4) and type (4), then width and height, big-endian.
  if (b.size() < 24 || b.substr(12, 4) != "IHDR") throw Error("PNG header cut short or without IHDR");
  return {be32(b, 16), be32(b, 20)};
}

ImageDims jpeg_dims(std::string_view b) {
  // Walk the marker segments up to the first start-of-frame; its height and width are what
  // the decoder allocates. DHT (C4), JPG (C8) and DAC (CC) share the C0-CF range but are not frames.
  size_t at = 2;
  while (at + 4 <= b.size()) {
    if (static_cast<uint8_t>(b[at]) != 0xFF) throw Error(fmt::format("JPEG marker expected at byte {}", at));
    const uint8_t marker = static_cast<uint8_t>(b[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {  // no length
      at += 2;
      continue;
    }
    if (marker == 0xD9 || marker == 0xDA) break;  // end of image / scan data before any frame header
    const uint32_t length = be16(b, at + 2);
    const bool frame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (frame) {
      if (at + 9 > b.size() || length < 7) break;
      return {be16(b, at + 7), be16(b, at + 5)};
    }
    if (length < 2) throw Error(fmt::format("JPEG segment at byte {} has length {}", at, length));
    at += 2 + length;
  }
  throw Error("JPEG without a frame header (SOFn): cut short or not a JPEG");
}

ImageDims bmp_dims(std::string_view b) {
  if (b.size() < 26 || le32(b, 14) < 40) throw Error("BMP header cut short or of an unsupported (OS/2) kind");
  // Height is signed: negative means rows stored top-down.
  const auto height = static_cast<int32_t>(le32(b, 22));
  return {static_cast<int32_t>(le32(b, 18)), height == INT32_MIN ? int64_t{1} << 31 : std::abs(int64_t{height})};
}

}  // namespace

ImageDims read_image_dims(std::string_view bytes) {
  if (bytes.starts_with("\x89PNG\r\n\x1a\n")) return png_dims(bytes);
  if (bytes.starts_with("\xFF\xD8")) return jpeg_dims(bytes);
  if (bytes.starts_with("BM")) return bmp_dims(bytes);
  throw Error("not a PNG, JPEG or BMP image (unknown signature)", Error::Kind::Unsupported);
}

}  // namespace trimvl::vision::media
