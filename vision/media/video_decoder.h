#pragma once
// Videos decoded with FFmpeg (libavformat, libavcodec, libswscale) into RGB frames, with the
// metadata transformers 4.57.1 gives the Qwen3-VL video processor. 4.57.1 decodes with
// torchcodec, else torchvision.io.read_video (PyAV); both take the rate from the stream's average
// frame rate, which is what `fps` is here. The frame count is the stream's declared frame count
// (torchcodec's num_frames) or, where the container declares none (Matroska, WebM), its packets
// counted in a demux-only pass. Frames are converted as the ffmpeg CLI converts to rgb24
// (bicubic swscale, the frame's colour matrix and range, BT.601 when unspecified) and turned
// upright as its autorotation does (display matrix: 90, 180, 270 degrees; mirrored matrices are
// refused as unsupported). Timestamps come from each frame's best-effort PTS, relative to the
// stream's start, so variable frame rates keep their real times.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <vector>

#include "vision/frames.h"

namespace trimvl::vision::media {

struct VideoInfo {
  int64_t frame_count = 0;
  double fps = 0;
};

// Picks frame indices (ascending, each < info.frame_count) before any frame is decoded, e.g.
// [&](const VideoInfo& v) { return qwen3vl::sample_frame_indices(v.frame_count, v.fps, config); }.
using FrameChooser = std::function<std::vector<int64_t>(const VideoInfo&)>;

struct DecodedVideo {
  Frames frames;                       // the chosen frames only; fps is the video's
  std::vector<int64_t> frame_indices;  // which frames of the video they are
  VideoInfo info;
};

// Decodes sequentially up to the last chosen frame and converts only the chosen ones. Throws
// trimvl::Error naming the file for: no video stream, an unsupported codec, a truncated or corrupt
// file, indices out of order or range, a frame over kMaxFramePixels, a video that ends before a
// chosen frame.
DecodedVideo decode_video(const std::filesystem::path& path, const FrameChooser& choose);

// Every frame.
Frames decode_video(const std::filesystem::path& path);

}  // namespace trimvl::vision::media
