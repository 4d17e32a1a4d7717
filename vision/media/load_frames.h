#pragma once
// One entry point for any media file the application is given: the extension decides.
//   .safetensors                     load_frames_safetensors (exact pixels, no media libraries)
//   .png .jpg .jpeg .bmp             decode_image
//   anything else                    decode_video (FFmpeg probes the container itself)
// Extensions compare case-insensitively.
#include <filesystem>

#include "vision/frames.h"

namespace trimvl::vision::media {

Frames load_frames(const std::filesystem::path& path);

}  // namespace trimvl::vision::media
