#include "vision/media/image_decoder.h"

#include <fstream>
#include <iterator>
#include <string>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "kernels/runtime/error.h"
#include "vision/media/image_header.h"

namespace trimvl::vision::media {
namespace {

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open image", Error::Kind::NotFound).file(path.string());
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error("read failed").file(path.string());
  if (bytes.empty()) throw Error("empty file (0 bytes); expected an image").file(path.string());
  return bytes;
}

// PNG IHDR: bit depth at byte 24, colour type at 25 (0 = grey).
bool is_16bit_grey_png(const std::string& bytes) {
  return bytes.starts_with("\x89PNG\r\n\x1a\n") && bytes.size() >= 26 && bytes[24] == 16 && bytes[25] == 0;
}

}  // namespace

Frames decode_image(const std::filesystem::path& path) {
  const std::string bytes = read_all(path);
  ImageDims dims;
  try {
    dims = read_image_dims(bytes);
  } catch (Error& e) {
    throw e.file(path.string());
  }
  if (dims.width <= 0 || dims.height <= 0 || dims.width > kMaxFramePixels / dims.height)  // no overflow
    throw Error(fmt::format("image header declares {} x {} pixels; at most {} pixels per frame are decoded",
                            dims.width, dims.height, kMaxFramePixels))
        .file(path.string());

  // libjpeg fills a cut-short scan with grey and only warns; PIL refuses ("image file is
  // truncated"). Entropy-coded data never holds FF D9 (FF is stuffed), so its absence means the end is missing.
  if (bytes.starts_with("\xFF\xD8") && bytes.find("\xFF\xD9") == std::string::npos)
    throw Error("JPEG cut short (no end-of-image marker)").file(path.string());

  const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<char*>(bytes.data()));
  cv::Mat rgb;
  try {
    if (is_16bit_grey_png(bytes)) {
      cv::Mat grey16 = cv::imdecode(encoded, cv::IMREAD_ANYDEPTH | cv::IMREAD_GRAYSCALE);
      if (!grey16.empty()) {
        cv::Mat grey8;
        grey16.convertTo(grey8, CV_8U);  // saturating, as PIL's I;16 -> RGB
        cv::cvtColor(grey8, rgb, cv::COLOR_GRAY2RGB);
      }
    } else {
      cv::Mat bgr = cv::imdecode(encoded, cv::IMREAD_COLOR);
      if (!bgr.empty()) cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    }
  } catch (const cv::Exception& e) {
    throw Error(fmt::format("image decoding failed: {}", e.what())).file(path.string());
  }
  if (rgb.empty()) throw Error("image data is corrupt or cut short (the decoder returned nothing)").file(path.string());
  TRIMVL_CHECK(rgb.type() == CV_8UC3 && rgb.isContinuous(), "unexpected decoded image type {}", rgb.type());

  Frames frames;
  frames.rgb = at::from_blob(rgb.data, {1, rgb.rows, rgb.cols, 3}, at::kByte).clone();
  frames.timestamps_s = {0.0};
  frames.source = path.string();
  return frames;
}

}  // namespace trimvl::vision::media
