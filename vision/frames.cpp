#include "vision/frames.h"

#include <charconv>
#include <cmath>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"

namespace trimvl::vision {
namespace {

constexpr const char* kFrames = "frames";
constexpr const char* kTimestamps = "timestamps";
constexpr const char* kFps = "fps";

// [T, H, W, 3] or [H, W, 3]; T, H, W >= 1; at most kMaxFramePixels per frame.
void check_rgb_shape(at::IntArrayRef shape) {
  auto fail = [&](std::string_view why) {
    return Error(fmt::format("{}; expected uint8 RGB of shape [T, H, W, 3] or [H, W, 3], got [{}]", why,
                             fmt::join(shape, ", ")))
        .tensor(kFrames);
  };
  if (shape.size() != 3 && shape.size() != 4) throw fail(fmt::format("rank {}", shape.size()));
  if (shape.back() != 3) throw fail(fmt::format("channel count {}", shape.back()));
  const int64_t height = shape.end()[-3], width = shape.end()[-2];
  if (shape.size() == 4 && shape[0] == 0) throw fail("no frames");
  if (height == 0 || width == 0) throw fail("frames are empty");
  if (height > kMaxFramePixels / width)
    throw fail(fmt::format("{} x {} pixels per frame exceeds the limit of {}", height, width, kMaxFramePixels));
}

void check_times(int64_t frames, double fps, const std::vector<double>& timestamps) {
  if (!(std::isfinite(fps) && fps >= 0)) throw Error(fmt::format("fps must be a positive number, got {}", fps));
  if (fps == 0 && frames > 1)
    throw Error(fmt::format("a video of {} frames needs \"{}\" in __metadata__ (frames per second)", frames, kFps));
  if (timestamps.empty()) return;
  auto fail = [](std::string message) { return Error(std::move(message)).tensor(kTimestamps); };
  if (static_cast<int64_t>(timestamps.size()) != frames)
    throw fail(fmt::format("{} timestamps for {} frames", timestamps.size(), frames));
  for (size_t i = 0; i < timestamps.size(); ++i) {
    if (!(std::isfinite(timestamps[i]) && timestamps[i] >= 0))
      throw fail(fmt::format("timestamp {} is {}; times are finite seconds >= 0", i, timestamps[i]));
    if (i > 0 && !(timestamps[i] > timestamps[i - 1]))
      throw fail(fmt::format("timestamp {} ({}) does not come after timestamp {} ({})", i, timestamps[i], i - 1,
                             timestamps[i - 1]));
  }
}

double parse_fps(const std::string& text) {
  double fps = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), fps);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(fps) || fps <= 0)
    throw Error(
        fmt::format("\"{}\" in __metadata__ must be a positive number of frames per second, got \"{}\"", kFps, text));
  return fps;
}

std::vector<double> read_timestamps(const io::SafetensorsFile& file) {
  const io::TensorInfo& info = file.info(kTimestamps);
  if ((info.scalar_type != at::kDouble && info.scalar_type != at::kFloat) || info.shape.size() != 1)
    throw Error(fmt::format("must be F64 or F32 of shape [T], got {} [{}]", info.dtype, fmt::join(info.shape, ", ")))
        .tensor(kTimestamps);
  const at::Tensor t = file.tensor(kTimestamps).to(at::kDouble).contiguous();
  return {t.const_data_ptr<double>(), t.const_data_ptr<double>() + t.numel()};
}

}  // namespace

Frames load_frames_safetensors(const std::filesystem::path& path) {
  const auto file = io::SafetensorsFile::open(path);
  try {
    for (const io::TensorInfo& t : file.tensors())
      if (t.name != kFrames && t.name != kTimestamps)
        throw Error(
            fmt::format("unexpected tensor: a frames file holds \"{}\" and optionally \"{}\"", kFrames, kTimestamps))
            .tensor(t.name);
    const io::TensorInfo* info = file.find(kFrames);
    if (info == nullptr) throw Error(fmt::format("no \"{}\" tensor (uint8 RGB, [T, H, W, 3] or [H, W, 3])", kFrames));
    if (info->scalar_type != at::kByte)
      throw Error(fmt::format("dtype {}; frames are U8 (uint8 RGB)", info->dtype)).tensor(kFrames);
    check_rgb_shape(info->shape);

    Frames frames;
    frames.rgb = file.tensor(kFrames);
    if (frames.rgb.dim() == 3) frames.rgb = frames.rgb.unsqueeze(0);
    const int64_t count = frames.rgb.size(0);
    if (auto fps = file.metadata().find(kFps); fps != file.metadata().end()) frames.fps = parse_fps(fps->second);
    if (file.find(kTimestamps) != nullptr) {
      frames.timestamps_s = read_timestamps(file);
    } else {
      for (int64_t i = 0; i < count; ++i) frames.timestamps_s.push_back(count == 1 ? 0.0 : i / frames.fps);
    }
    check_times(count, frames.fps, frames.timestamps_s);
    frames.source = path.string();
    return frames;
  } catch (Error& e) {
    e.file(path.string());
    throw;
  }
}

void save_frames_safetensors(const std::filesystem::path& path, const Frames& frames) {
  try {
    if (!frames.rgb.defined()) throw Error("no pixels (rgb is undefined)").tensor(kFrames);
    if (frames.rgb.scalar_type() != at::kByte)
      throw Error(fmt::format("dtype {}; frames are uint8 RGB", c10::toString(frames.rgb.scalar_type())))
          .tensor(kFrames);
    check_rgb_shape(frames.rgb.sizes());
    check_times(frames.rgb.dim() == 4 ? frames.rgb.size(0) : 1, frames.fps, frames.timestamps_s);
  } catch (Error& e) {
    e.file(path.string());
    throw;
  }
  // Timestamps first: at offset 0 they are aligned whatever the frame size.
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  if (!frames.timestamps_s.empty()) tensors.emplace_back(kTimestamps, at::tensor(frames.timestamps_s, at::kDouble));
  tensors.emplace_back(kFrames, frames.rgb);
  std::map<std::string, std::string> metadata;
  if (frames.fps > 0) metadata[kFps] = fmt::format("{}", frames.fps);  // shortest text that reads back exactly
  io::save_safetensors(path, tensors, metadata);
}

}  // namespace trimvl::vision
