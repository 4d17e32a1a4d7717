#include "vision/media/load_frames.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string>

#include "vision/media/image_decoder.h"
#include "vision/media/video_decoder.h"

namespace trimvl::vision::media {

Frames load_frames(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".safetensors") return load_frames_safetensors(path);
  constexpr std::array<std::string_view, 4> kImages = {".png", ".jpg", ".jpeg", ".bmp"};
  if (std::find(kImages.begin(), kImages.end(), ext) != kImages.end()) return decode_image(path);
  return decode_video(path);
}

}  // namespace trimvl::vision::media
