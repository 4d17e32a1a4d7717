// The Qwen3-VL vision encoder on CUDA against itself on the CPU in float32, on a random tower with
// the 4B's head_dim: images of two sizes and a video in one call. Skips where no CUDA device exists.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/dtype.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"
#include "tests/vision/qwen3vl_checkpoint.h"
#include "vision/qwen3vl/image_processor.h"
#include "vision/qwen3vl/video_processor.h"
#include "vision/qwen3vl/vision_model.h"

namespace trimvl::vision::qwen3vl {
namespace {

struct Case {
  trimvl::test::TempDir dir;
  nlohmann::json config = test::small_vision_config();
  std::vector<GridThw> grids = {{1, 8, 12}, {1, 6, 4}, {3, 4, 4}};
  at::Tensor pixels;
  VisionOutput reference;  // float32 on the CPU

  Case() {
    config["depth"] = 4;
    config["deepstack_visual_indexes"] = {1, 3};
    const VisionConfig parsed = test::vision_config_from(config);
    test::write_vision_checkpoint(dir.path(), config, test::random_vision_weights(parsed, 11));
    at::Generator gen = at::detail::createCPUGenerator(12);
    pixels = at::rand({total_patches(grids), parsed.patch_dim()}, gen) * 2 - 1;
    reference = VisionModel::load(dir.path(), at::kFloat, at::kCPU).forward(pixels, grids);
  }

  void expect_close(const VisionOutput& out, double rtol, double relative_atol) const {
    const auto check = [&](const at::Tensor& a, const at::Tensor& e, const std::string& what) {
      EXPECT_TRUE(a.is_cuda()) << what;
      EXPECT_TRUE(trimvl::test::all_close(a, e, rtol, relative_atol * e.abs().max().item<double>(), what));
    };
    check(out.embeds, reference.embeds, "embeds");
    ASSERT_EQ(out.deepstack.size(), reference.deepstack.size());
    for (size_t j = 0; j < out.deepstack.size(); ++j)
      check(out.deepstack[j], reference.deepstack[j], "deepstack." + std::to_string(j));
  }
};

TEST(Qwen3VLVisionGpu, Float32MatchesTheCpu) {
  TRIMVL_REQUIRE_CUDA();
  const Case c;
  const VisionOutput out = VisionModel::load(c.dir.path(), at::kFloat, at::kCUDA).forward(c.pixels, c.grids);
  // Same arithmetic in a different summation order (cuBLAS without TF32, fused attention kernels);
  // an H100 gave 2e-6 at most.
  c.expect_close(out, 1e-4, 1e-4);
}

TEST(Qwen3VLVisionGpu, Bfloat16TracksFloat32) {
  TRIMVL_REQUIRE_CUDA();
  const Case c;
  const VisionOutput out = VisionModel::load(c.dir.path(), at::kBFloat16, at::kCUDA).forward(c.pixels, c.grids);
  EXPECT_EQ(out.embeds.scalar_type(), at::kBFloat16);
  // bf16 keeps 8 significant bits: after 4 blocks and a merger, within 5% of each value plus 5% of
  // the output's largest magnitude (an H100 gave 2% of the largest at most).
  c.expect_close(out, 0.05, 0.05);
}

// The processors make pixel values on the device with the CPU's bits: an image at its own size (the
// bench's case: only the uint8 frame is uploaded), one the CPU resizes first, and a video whose odd
// frame count is padded on the device.
TEST(Qwen3VLVisionGpu, ProcessorsOnTheDeviceGiveTheCpuBits) {
  TRIMVL_REQUIRE_CUDA();
  const nlohmann::json hub = {{"size", {{"longest_edge", 16777216}, {"shortest_edge", 65536}}},
                              {"patch_size", 16},
                              {"temporal_patch_size", 2},
                              {"merge_size", 2},
                              {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
                              {"image_std", {0.26862954, 0.26130258, 0.27577711}}};
  const ImageProcessorConfig image = parse_image_processor_config(hub, "preprocessor_config.json");
  at::Generator gen = at::detail::createCPUGenerator(3);
  for (const auto& [h, w] : {std::pair<int64_t, int64_t>{256, 320}, {250, 301}}) {
    Frames frame;
    frame.rgb = at::randint(0, 256, {1, h, w, 3}, gen, at::kByte);
    const ProcessedImage cpu = process_image(frame, image);
    const ProcessedImage cuda = process_image(frame, image, at::kCUDA);
    EXPECT_TRUE(cuda.pixel_values.is_cuda());
    EXPECT_EQ(cuda.grid, cpu.grid);
    EXPECT_TRUE(at::equal(cuda.pixel_values.cpu(), cpu.pixel_values)) << h << " x " << w;
  }
  nlohmann::json video_json = hub;
  video_json["size"] = {{"longest_edge", 25165824}, {"shortest_edge", 4096}};
  const VideoProcessorConfig video = parse_video_processor_config(video_json, "video_preprocessor_config.json");
  const at::Tensor frames = at::randint(0, 256, {5, 64, 96, 3}, gen, at::kByte);
  const ProcessedVideo cpu = process_sampled_video(frames, {0, 1, 2, 3, 4}, 2.0, video);
  const ProcessedVideo cuda = process_sampled_video(frames, {0, 1, 2, 3, 4}, 2.0, video, at::kCUDA);
  EXPECT_EQ(cuda.grid, cpu.grid);
  EXPECT_TRUE(at::equal(cuda.pixel_values.cpu(), cpu.pixel_values));
}

}  // namespace
}  // namespace trimvl::vision::qwen3vl
