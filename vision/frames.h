#pragma once
// Decoded frames of an image or a video, and their file format for builds without media
// libraries (and for tests and tools that need exact pixels): one safetensors file holding
//
//   "frames"      U8 RGB, [T, H, W, 3] (frames, rows, columns, channels); [H, W, 3] is one image.
//   "timestamps"  optional, F64 or F32 [T]: when each frame was taken, in seconds; finite, >= 0,
//                 strictly increasing. Default: frame i at i / fps (0 for a single frame).
//   __metadata__  "fps": frames per second as a decimal string ("2.0"), finite and > 0; required
//                 when T > 1. A single frame without "fps" is a still image: fps = 0.
//
// Nothing else: another tensor is an error (a model checkpoint given as an image fails
// clearly); other metadata keys are ignored. At most kMaxFramePixels pixels per frame.
// Python: safetensors.torch.save_file({"frames": uint8 [T, H, W, 3]}, path, metadata={"fps": "2.0"})
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::vision {

// 16384 x 16384: far beyond what any vision encoder resizes from, small enough that a corrupt
// or hostile size is refused before anything allocates or reads for it.
inline constexpr int64_t kMaxFramePixels = int64_t{1} << 28;

struct Frames {
  at::Tensor rgb;                    // [T, H, W, 3] uint8 on the CPU; from a file, a copy-on-write view of it
  double fps = 0;                    // 0 for a still image
  std::vector<double> timestamps_s;  // T entries
  std::string source;                // the file the frames came from, for messages
};

// Throws trimvl::Error naming the file (and the tensor at fault) for anything the format above
// does not allow.
Frames load_frames_safetensors(const std::filesystem::path& path);

// Writes frames in the format above ("timestamps" only when given, "fps" only when > 0), after
// the checks load applies; on error nothing is written.
void save_frames_safetensors(const std::filesystem::path& path, const Frames& frames);

}  // namespace trimvl::vision
