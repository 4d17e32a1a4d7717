#pragma once
// The one place a media path becomes pixels. Builds without media libraries read frames
// safetensors (vision/frames.h); the OpenCV/FFmpeg decoders plug in here.
#include <filesystem>

#include "vision/frames.h"

namespace trimvl::app {

// Throws trimvl::Error naming the file when it is missing or not a supported media file.
vision::Frames load_media(const std::filesystem::path& path);

}  // namespace trimvl::app
