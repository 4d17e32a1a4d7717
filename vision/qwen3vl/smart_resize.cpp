#include "vision/qwen3vl/smart_resize.h"

#include <algorithm>
#include <cmath>

#include "kernels/runtime/error.h"

namespace trimvl::vision::qwen3vl {
namespace {

// Python's round() on a float: to nearest, ties to even -- nearbyint in the default rounding mode,
// which nothing in trimvl changes (std::round would send 62.5 to 63; Python gives 62).
int64_t round_half_even(double x) { return static_cast<int64_t>(std::nearbyint(x)); }

void check_sides(int64_t height, int64_t width) {
  TRIMVL_CHECK_ARG(height > 0 && width > 0, "frame size {} x {}: both sides must be at least one pixel", height, width);
}

void check_aspect_ratio(int64_t height, int64_t width) {
  const double ratio = static_cast<double>(std::max(height, width)) / static_cast<double>(std::min(height, width));
  TRIMVL_CHECK_ARG(ratio <= 200, "frame size {} x {}: aspect ratio {:.6g} exceeds 200, which Qwen3-VL's processors "
                                 "refuse", height, width, ratio);
}

// The shared rule; `pixels` = num_frames * height * width for a video (height * width for an image)
// and `rounded_frames` the frame count rounded to the temporal factor (1 for an image).
ImageSize fit(int64_t height, int64_t width, int64_t pixels, int64_t rounded_frames, int64_t factor,
              int64_t min_pixels, int64_t max_pixels) {
  const auto f = static_cast<double>(factor);
  int64_t h = round_half_even(static_cast<double>(height) / f) * factor;
  int64_t w = round_half_even(static_cast<double>(width) / f) * factor;
  if (rounded_frames * h * w > max_pixels) {
    const double beta = std::sqrt(static_cast<double>(pixels) / static_cast<double>(max_pixels));
    h = std::max(factor, static_cast<int64_t>(std::floor(static_cast<double>(height) / beta / f)) * factor);
    w = std::max(factor, static_cast<int64_t>(std::floor(static_cast<double>(width) / beta / f)) * factor);
  } else if (rounded_frames * h * w < min_pixels) {
    const double beta = std::sqrt(static_cast<double>(min_pixels) / static_cast<double>(pixels));
    h = static_cast<int64_t>(std::ceil(static_cast<double>(height) * beta / f)) * factor;
    w = static_cast<int64_t>(std::ceil(static_cast<double>(width) * beta / f)) * factor;
  }
  return {h, w};
}

}  // namespace

ImageSize smart_resize_image(int64_t height, int64_t width, int64_t factor, int64_t min_pixels, int64_t max_pixels) {
  check_sides(height, width);
  check_aspect_ratio(height, width);
  return fit(height, width, height * width, 1, factor, min_pixels, max_pixels);
}

ImageSize smart_resize_video(int64_t num_frames, int64_t height, int64_t width, int64_t temporal_factor,
                             int64_t factor, int64_t min_pixels, int64_t max_pixels) {
  TRIMVL_CHECK_ARG(num_frames >= temporal_factor,
                   "a video needs at least {} sampled frames (one temporal patch), got {}", temporal_factor,
                   num_frames);
  check_sides(height, width);
  TRIMVL_CHECK_ARG(height >= factor && width >= factor,
                   "video frames of {} x {} pixels are too small: Qwen3-VL's video processor needs both sides to be "
                   "at least {}", height, width, factor);
  check_aspect_ratio(height, width);
  const int64_t rounded_frames =
      round_half_even(static_cast<double>(num_frames) / static_cast<double>(temporal_factor)) * temporal_factor;
  return fit(height, width, num_frames * height * width, rounded_frames, factor, min_pixels, max_pixels);
}

}  // namespace trimvl::vision::qwen3vl
