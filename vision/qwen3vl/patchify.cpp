#include "vision/qwen3vl/patchify.h"

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "kernels/runtime/error.h"
#include "vision/frames.h"

namespace trimvl::vision::qwen3vl {
namespace {

// torch.tensor(list of Python floats): float32, each value rounded once.
at::Tensor per_channel(const std::vector<double>& values) {
  std::vector<float> narrowed(values.begin(), values.end());
  return at::tensor(narrowed, at::kFloat).view({-1, 1, 1});
}

}  // namespace

Patches patchify(const at::Tensor& frames, ImageSize size, const PatchSettings& s, c10::Device device) {
  TRIMVL_CHECK_ARG(frames.defined() && frames.dim() == 4 && frames.size(3) == 3 && frames.size(0) > 0 &&
                       frames.scalar_type() == at::kByte && frames.is_cpu(),
                   "expected uint8 RGB frames [T, H, W, 3] on the CPU with T >= 1, got {} {} on {}",
                   frames.defined() ? c10::toString(frames.scalar_type()) : "undefined",
                   frames.defined() ? frames.sizes() : at::IntArrayRef{}, frames.defined() ? frames.device().str() : "-");
  const int64_t height = frames.size(1), width = frames.size(2);
  // Frames made in memory (not read through frames.h) meet the same per-frame limit, before the
  // copy below would allocate for them.
  TRIMVL_CHECK_ARG(height > 0 && width > 0 && height <= kMaxFramePixels / width,
                   "a frame of {} x {} pixels: sides must be positive and the area at most {}", height, width,
                   kMaxFramePixels);
  const int64_t factor = s.factor();
  TRIMVL_CHECK(size.height > 0 && size.width > 0 && size.height % factor == 0 && size.width % factor == 0,
               "resize target {} x {} is not a positive multiple of {}", size.height, size.width, factor);
  const int64_t count = frames.size(0), tp = s.temporal_patch_size;
  const int64_t groups = (count + tp - 1) / tp;
  // Each factor is bounded (frames by the caller, sides by smart_resize); the product is checked
  // in a form that cannot overflow.
  TRIMVL_CHECK_ARG(size.pixels() <= kMaxPatchedPixels / (groups * tp),
                   "resizing {} frame(s) to {} x {} needs {} pixels, more than the limit of {}", groups * tp,
                   size.height, size.width, groups * tp * size.pixels(), kMaxPatchedPixels);

  // HF hands torchvision contiguous NCHW frames; so do we, to run the very same kernel path. The
  // resize stays on the CPU; the uint8 frames go to `device` after it.
  at::Tensor x;
  if (height != size.height || width != size.width)
    x = at::_upsample_bicubic2d_aa(frames.permute({0, 3, 1, 2}).contiguous(), {size.height, size.width},
                                   /*align_corners=*/false)
            .to(device);
  else
    x = frames.to(device).permute({0, 3, 1, 2}).contiguous();

  const at::Tensor mean = (per_channel(s.image_mean) * (1.0 / s.rescale_factor)).to(device);
  const at::Tensor stddev = (per_channel(s.image_std) * (1.0 / s.rescale_factor)).to(device);
  at::Tensor y = x.to(at::kFloat).sub(mean).div_(stddev);
  // (HF appends temporal_patch_size - 1 copies, the same thing for the 2 every checkpoint uses.)
  if (count % tp != 0) y = at::cat({y, y.narrow(0, count - 1, 1).expand({groups * tp - count, -1, -1, -1})});

  const int64_t p = s.patch_size, m = s.merge_size, gh = size.height / p, gw = size.width / p;
  // [groups, tp, C, gh/m, m, p, gw/m, m, p] -> [groups, gh/m, gw/m, m, m, C, tp, p, p]
  at::Tensor patches = y.view({groups, tp, 3, gh / m, m, p, gw / m, m, p})
                           .permute({0, 3, 6, 4, 7, 2, 1, 5, 8})
                           .reshape({groups * gh * gw, 3 * tp * p * p});
  return {patches, GridThw{groups, gh, gw}};
}

}  // namespace trimvl::vision::qwen3vl
