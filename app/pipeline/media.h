#pragma once
// The one place a media path becomes pixels: with TRIMVL_MEDIA, images through OpenCV and videos
// through FFmpeg (vision/media/load_frames.h); every build reads frames safetensors (vision/frames.h).
#include <filesystem>

#include "vision/frames.h"

namespace trimvl::app {

// Throws trimvl::Error naming the file when it is missing or not a supported media file.
vision::Frames load_media(const std::filesystem::path& path);

}  // namespace trimvl::app
