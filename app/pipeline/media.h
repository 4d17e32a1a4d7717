#pragma once
// The one place a media path becomes pixels: with TRIMVL_MEDIA, images through OpenCV and videos
// through FFmpeg (vision/media/load_frames.h); every build reads frames safetensors (vision/frames.h).
#include <filesystem>
#include <string>

#include "vision/frames.h"

namespace trimvl::app {

// Throws trimvl::Error naming the file when it is missing or not a supported media file.
vision::Frames load_media(const std::filesystem::path& path);

// What tells this file's content apart without reading it, for reusing its encoding: the canonical
// path, device and inode, size, and modification and status-change times in nanoseconds. Any write
// moves the status-change time (which, unlike mtime, no tool can set back), and a replacement by
// rename changes the inode. Throws as load_media does for a missing file.
std::string media_file_identity(const std::filesystem::path& path);

}  // namespace trimvl::app
