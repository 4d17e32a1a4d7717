// Qwen3-VL vision against transformers 4.57.1 + torchvision 0.26 (tests/golden/gen_qwen3vl_vision.py):
// smart_resize on a grid of sizes, the image and video processors bit for bit on the CPU (same
// media files, same configuration files), and the encoder on two tiny random towers: float32 within
// 1e-4, bf16 within its precision, and its position and rotary inputs bit for bit.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "kernels/io/weight_loader.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"
#include "vision/frames.h"
#include "vision/qwen3vl/image_processor.h"
#include "vision/qwen3vl/position_embedding.h"
#include "vision/qwen3vl/smart_resize.h"
#include "vision/qwen3vl/video_processor.h"
#include "vision/qwen3vl/vision_config.h"
#include "vision/qwen3vl/vision_model.h"
#include "vision/qwen3vl/vision_rotary.h"

namespace trimvl::vision::qwen3vl {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Golden {
  fs::path dir = trimvl::test::golden_dir("qwen3vl_vision");
  json cases = json::parse(trimvl::test::read_file(dir / "cases.json"));

  Frames media(const std::string& name) const { return load_frames_safetensors(dir / "media" / (name + ".safetensors")); }
  fs::path processor(const std::string& name) const { return dir / "processors" / name; }
};

std::vector<GridThw> grids_of(const json& rows) {
  std::vector<GridThw> grids;
  for (const auto& r : rows) grids.push_back({r.at(0).get<int64_t>(), r.at(1).get<int64_t>(), r.at(2).get<int64_t>()});
  return grids;
}

// Bit-exact: same dtype, shape and every float.
::testing::AssertionResult identical(const at::Tensor& actual, const at::Tensor& expected) {
  if (actual.scalar_type() != expected.scalar_type() || actual.sizes() != expected.sizes())
    return ::testing::AssertionFailure() << "got " << actual.scalar_type() << " " << actual.sizes() << ", expected "
                                         << expected.scalar_type() << " " << expected.sizes();
  if (at::equal(actual, expected)) return ::testing::AssertionSuccess();
  const at::Tensor diff = (actual - expected).abs();
  return ::testing::AssertionFailure() << (diff > 0).sum().item<int64_t>() << " of " << diff.numel()
                                       << " values differ, by up to " << diff.max().item<double>();
}

TEST(Qwen3VLGolden, SmartResizeMatchesTransformers) {
  const Golden golden;
  const json table = json::parse(trimvl::test::read_file(golden.dir / "smart_resize.json"));
  int64_t sizes = 0, errors = 0;
  const auto check = [&](const json& row, auto&& resize) {
    if (row.contains("error")) {
      ++errors;
      EXPECT_THROW(resize(), Error) << row.dump();
    } else {
      ++sizes;
      EXPECT_EQ(resize(), (ImageSize{row.at("size").at(0), row.at("size").at(1)})) << row.dump();
    }
  };
  for (const json& r : table.at("image"))
    check(r, [&] { return smart_resize_image(r["height"], r["width"], r["factor"], r["min_pixels"], r["max_pixels"]); });
  for (const json& r : table.at("video"))
    check(r, [&] {
      return smart_resize_video(r["num_frames"], r["height"], r["width"], r["temporal_factor"], r["factor"],
                                r["min_pixels"], r["max_pixels"]);
    });
  EXPECT_GT(sizes, 800);  // the table really exercised both outcomes
  EXPECT_GT(errors, 50);
}

TEST(Qwen3VLGolden, ImageProcessorIsBitExact) {
  const Golden golden;
  const auto expected = io::SafetensorsFile::open(golden.dir / "processed.safetensors");
  int64_t compared = 0;
  for (const json& c : golden.cases.at("images")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const ImageProcessorConfig config =
        load_image_processor_config(golden.processor(c.at("config")) / "preprocessor_config.json");
    std::vector<at::Tensor> pixel_values;
    std::vector<GridThw> grids;
    try {
      for (const json& media : c.at("media")) {
        ProcessedImage out = process_image(golden.media(media), config);
        pixel_values.push_back(out.pixel_values);
        grids.push_back(out.grid);
      }
    } catch (const Error& e) {
      EXPECT_TRUE(c.contains("error")) << e.what();
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
      continue;
    }
    ASSERT_FALSE(c.contains("error")) << "transformers refused this input: " << c.at("error");
    EXPECT_EQ(grids, grids_of(c.at("grids")));
    EXPECT_TRUE(identical(at::cat(pixel_values), expected.tensor(name)));
    ++compared;
  }
  EXPECT_EQ(compared, 12);
}

TEST(Qwen3VLGolden, VideoProcessorIsBitExact) {
  const Golden golden;
  const auto expected = io::SafetensorsFile::open(golden.dir / "processed.safetensors");
  int64_t compared = 0;
  for (const json& c : golden.cases.at("videos")) {
    const std::string name = c.at("name");
    SCOPED_TRACE(name);
    const VideoProcessorConfig config =
        load_video_processor_config(golden.processor(c.at("config")) / "video_preprocessor_config.json");
    const Frames video = golden.media(c.at("media").at(0));
    if (c.contains("error")) {
      try {
        process_video(video, config);
        ADD_FAILURE() << "processed what transformers refused: " << c.at("error");
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
        EXPECT_EQ(e.file(), video.source) << e.what();
      }
      continue;
    }
    const ProcessedVideo out = process_video(video, config);
    EXPECT_EQ(out.frame_indices, c.at("frame_indices").get<std::vector<int64_t>>());
    EXPECT_EQ(out.timestamps_s, c.at("timestamps").get<std::vector<double>>());  // exact doubles
    EXPECT_EQ(std::vector<GridThw>{out.grid}, grids_of(c.at("grids")));
    EXPECT_TRUE(identical(out.pixel_values, expected.tensor(name)));
    ++compared;
  }
  EXPECT_EQ(compared, 10);
}

TEST(Qwen3VLGolden, EncoderMatchesTransformersInFloat32) {
  const Golden golden;
  const auto expected = io::SafetensorsFile::open(golden.dir / "encoder.safetensors");
  std::map<std::string, VisionModel> models;
  int64_t compared = 0;
  for (const json& c : golden.cases.at("encoders")) {
    const std::string name = c.at("name"), model_name = c.at("model");
    SCOPED_TRACE(name);
    if (!models.contains(model_name))
      models.emplace(model_name, VisionModel::load(golden.dir / "models" / model_name, at::kFloat, at::kCPU));
    const VisionModel& model = models.at(model_name);
    const VisionOutput out = model.forward(expected.tensor(name + "/pixel_values"), grids_of(c.at("grids")));
    // float32 on both sides; the patch embedding as a matmul and batched attention reorder sums.
    constexpr double rtol = 1e-4, atol = 1e-4;
    EXPECT_TRUE(trimvl::test::all_close(out.embeds, expected.tensor(name + "/embeds"), rtol, atol, "embeds"));
    ASSERT_EQ(static_cast<int64_t>(out.deepstack.size()), c.at("deepstack").get<int64_t>());
    for (size_t j = 0; j < out.deepstack.size(); ++j)
      EXPECT_TRUE(trimvl::test::all_close(out.deepstack[j], expected.tensor(name + "/deepstack." + std::to_string(j)),
                                          rtol, atol, "deepstack." + std::to_string(j)));
    ++compared;
  }
  EXPECT_EQ(compared, 6);
}

TEST(Qwen3VLGolden, PositionsInBfloat16AndRotaryAreBitExact) {
  // Elementwise arithmetic, so the same ops in the same dtypes reproduce transformers exactly:
  // 4.57's bilinear weights rounded to bf16 and the taps summed in bf16; the float32 rotary angles.
  const Golden golden;
  const auto expected = io::SafetensorsFile::open(golden.dir / "encoder.safetensors");
  int64_t compared = 0;
  for (const json& c : golden.cases.at("encoders")) {
    const std::string name = c.at("name"), model_name = c.at("model");
    SCOPED_TRACE(name);
    const fs::path dir = golden.dir / "models" / model_name;
    const VisionConfig config = load_vision_config(dir / "config.json");
    const auto checkpoint = io::SafetensorsCheckpoint::open(dir);
    io::WeightLoader weights(checkpoint, at::kBFloat16, at::kCPU);
    const PositionEmbedding positions(config, weights.root().scope("model.visual.pos_embed"));
    const std::vector<GridThw> grids = grids_of(c.at("grids"));
    EXPECT_TRUE(identical(positions.forward(grids), expected.tensor(name + "/bf16/pos_embeds")));
    const RotaryTables rotary = VisionRotary(config).forward(grids, at::kCPU);
    EXPECT_TRUE(identical(rotary.cos, expected.tensor(name + "/rotary_cos")));
    EXPECT_TRUE(identical(rotary.sin, expected.tensor(name + "/rotary_sin")));
    ++compared;
  }
  EXPECT_EQ(compared, 6);
}

TEST(Qwen3VLGolden, EncoderTracksTransformersInBfloat16) {
  const Golden golden;
  const auto expected = io::SafetensorsFile::open(golden.dir / "encoder.safetensors");
  std::map<std::string, VisionModel> models;
  for (const json& c : golden.cases.at("encoders")) {
    const std::string name = c.at("name"), model_name = c.at("model");
    SCOPED_TRACE(name);
    if (!models.contains(model_name))
      models.emplace(model_name, VisionModel::load(golden.dir / "models" / model_name, at::kBFloat16, at::kCPU));
    const VisionOutput out = models.at(model_name).forward(expected.tensor(name + "/pixel_values"), grids_of(c.at("grids")));
    // Both sides round every op to bf16 (8 significant bits) but sum in different orders (a Conv3d
    // against a matmul, attention kernels): within 2% of each value plus 2% of the largest.
    const auto check = [&](const at::Tensor& actual, const std::string& key) {
      const at::Tensor e = expected.tensor(name + "/bf16/" + key);
      EXPECT_EQ(actual.scalar_type(), at::kBFloat16);
      EXPECT_TRUE(trimvl::test::all_close(actual, e, 0.02, 0.02 * e.abs().max().item<double>(), key));
    };
    check(out.embeds, "embeds");
    for (size_t j = 0; j < out.deepstack.size(); ++j) check(out.deepstack[j], "deepstack." + std::to_string(j));
  }
}

}  // namespace
}  // namespace trimvl::vision::qwen3vl
