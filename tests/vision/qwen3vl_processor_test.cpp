// Qwen3-VL processors without the reference: configuration files, the resize rule on the examples
// the reference spec verified against transformers, sampling, and bad input. Bit-exactness against
// transformers itself is qwen3vl_golden_test.cpp.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"
#include "vision/qwen3vl/image_processor.h"
#include "vision/qwen3vl/patchify.h"
#include "vision/qwen3vl/processor_config.h"
#include "vision/qwen3vl/smart_resize.h"
#include "vision/qwen3vl/video_processor.h"

namespace trimvl::vision::qwen3vl {
namespace {

using nlohmann::json;

// The hub's Qwen/Qwen3-VL-4B-Instruct processor files.
const json kHubImage = json::parse(R"({"size": {"longest_edge": 16777216, "shortest_edge": 65536}, "patch_size": 16,
  "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
  "processor_class": "Qwen3VLProcessor", "image_processor_type": "Qwen2VLImageProcessorFast"})");
const json kHubVideo = json::parse(R"({"size": {"longest_edge": 25165824, "shortest_edge": 4096}, "patch_size": 16,
  "temporal_patch_size": 2, "merge_size": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
  "processor_class": "Qwen3VLProcessor", "video_processor_type": "Qwen3VLVideoProcessor"})");

ImageProcessorConfig image_config(const json& j) { return parse_image_processor_config(j, "preprocessor_config.json"); }
VideoProcessorConfig video_config(const json& j) {
  return parse_video_processor_config(j, "video_preprocessor_config.json");
}

// `base` with the top-level keys of `changes` set (null included: it means None to transformers).
json with(json base, const json& changes) {
  for (const auto& [key, value] : changes.items()) base[key] = value;
  return base;
}

Frames frames_of(at::IntArrayRef shape, double fps = 0, std::string source = "clip.safetensors") {
  Frames f;
  f.rgb = at::randint(0, 256, shape, at::kByte);
  f.fps = fps;
  f.source = std::move(source);
  return f;
}

// Runs `fn`, expecting one trimvl::Error of `kind` whose message contains every piece of `parts`.
template <typename Fn>
void expect_error(Fn&& fn, Error::Kind kind, std::initializer_list<std::string_view> parts) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << *parts.begin();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (std::string_view part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// ---- smart_resize ------------------------------------------------------------------------------

TEST(SmartResize, HubImageExamples) {
  // (height, width) -> resized, from the reference spec's runs of transformers with the hub settings.
  const auto hub = [](int64_t h, int64_t w) { return smart_resize_image(h, w, 32, 65536, 16777216); };
  EXPECT_EQ(hub(480, 640), (ImageSize{480, 640}));
  EXPECT_EQ(hub(1080, 1920), (ImageSize{1088, 1920}));
  EXPECT_EQ(hub(100, 2000), (ImageSize{96, 1984}));  // 2000 / 32 = 62.5 rounds to even: 62
  EXPECT_EQ(hub(10, 10), (ImageSize{256, 256}));     // min_pixels
  EXPECT_EQ(hub(4000, 3000), (ImageSize{4000, 3008}));
}

TEST(SmartResize, RefusesWhatTransformersRefuses) {
  EXPECT_EQ(smart_resize_image(2, 400, 32, 65536, 16777216).width % 32, 0);  // ratio exactly 200 is allowed
  expect_error([] { smart_resize_image(3, 700, 32, 65536, 16777216); }, Error::Kind::InvalidInput,
               {"3 x 700", "aspect ratio 233.333 exceeds 200"});
  expect_error([] { smart_resize_image(0, 7, 32, 1, 100); }, Error::Kind::InvalidInput, {"at least one pixel"});
  expect_error([] { smart_resize_video(1, 64, 64, 2, 32, 4096, 25165824); }, Error::Kind::InvalidInput,
               {"at least 2 sampled frames"});
  expect_error([] { smart_resize_video(8, 20, 64, 2, 32, 4096, 25165824); }, Error::Kind::InvalidInput,
               {"20 x 64", "at least 32"});
  // Video budgets count every frame: 8 frames of 240 x 320 fit; 8 x 1080p does not.
  EXPECT_EQ(smart_resize_video(8, 240, 320, 2, 32, 4096, 25165824), (ImageSize{256, 320}));
  EXPECT_LE(8 * smart_resize_video(8, 1080, 1920, 2, 32, 4096, 8 * 256 * 256).pixels(), 8 * 256 * 256);
}

// ---- configuration files -----------------------------------------------------------------------

TEST(ProcessorConfig, HubFilesAndClassDefaults) {
  const PatchSettings hub = image_config(kHubImage).patches;
  EXPECT_EQ(hub.factor(), 32);
  EXPECT_EQ(hub.min_pixels, 65536);
  EXPECT_EQ(hub.max_pixels, 16777216);
  EXPECT_EQ(hub.image_mean, (std::vector<double>{0.5, 0.5, 0.5}));
  EXPECT_EQ(hub.rescale_factor, 1.0 / 255);

  // An empty file is Qwen2VLImageProcessorFast's class defaults, not Qwen3-VL's settings.
  const PatchSettings defaults = image_config(json::object()).patches;
  EXPECT_EQ(defaults.patch_size, 14);
  EXPECT_EQ(defaults.min_pixels, 56 * 56);
  EXPECT_EQ(defaults.max_pixels, 28 * 28 * 1280);
  EXPECT_EQ(defaults.image_mean[0], 0.48145466);

  const VideoProcessorConfig video = video_config(kHubVideo);
  EXPECT_EQ(video.patches.max_pixels, 25165824);
  EXPECT_EQ(video.fps, 2.0);
  EXPECT_FALSE(video.num_frames);
  EXPECT_EQ(video.min_frames, 4);
  EXPECT_EQ(video.max_frames, 768);
  EXPECT_EQ(video_config(json::object()).patches.min_pixels, 128 * 32 * 32);
}

TEST(ProcessorConfig, LegacyPixelKeysOverrideSize) {
  const PatchSettings s = image_config(with(kHubImage, {{"min_pixels", 1024}, {"max_pixels", 4096}})).patches;
  EXPECT_EQ(s.min_pixels, 1024);
  EXPECT_EQ(s.max_pixels, 4096);
  EXPECT_EQ(image_config(with(kHubImage, {{"max_pixels", 9999}})).patches.min_pixels, 65536);
  EXPECT_EQ(image_config({{"size", nullptr}, {"min_pixels", 77}}).patches.max_pixels, 28 * 28 * 1280);
  // The override fills a size entry that is missing, as 4.57's __init__ does before its check.
  EXPECT_EQ(image_config({{"size", {{"longest_edge", 5000}}}, {"min_pixels", 77}}).patches.min_pixels, 77);
  expect_error([] { image_config({{"size", {{"longest_edge", 5000}}}}); }, Error::Kind::InvalidInput,
               {"'size'", "shortest_edge"});
  expect_error([] { video_config({{"size", {{"longest_edge", 5000}}}, {"min_pixels", 77}}); },
               Error::Kind::InvalidInput, {"'size'", "shortest_edge"});  // the video processor has no such keys
  EXPECT_EQ(image_config(with(kHubImage, {{"image_std", 0.25}})).patches.image_std,
            (std::vector<double>{0.25, 0.25, 0.25}));
}

TEST(ProcessorConfig, VideoSamplingKeys) {
  const VideoProcessorConfig count = video_config(with(kHubVideo, {{"fps", nullptr}, {"num_frames", 6}}));
  EXPECT_FALSE(count.fps);
  EXPECT_EQ(count.num_frames, 6);
  expect_error([] { video_config(with(kHubVideo, {{"num_frames", 6}})); }, Error::Kind::InvalidInput,
               {"video_preprocessor_config.json", "'num_frames'", "mutually exclusive"});
  expect_error([] { video_config(with(kHubVideo, {{"fps", -1}})); }, Error::Kind::InvalidInput, {"'fps'"});
  expect_error([] { video_config(with(kHubVideo, {{"do_sample_frames", false}})); }, Error::Kind::Unsupported,
               {"'do_sample_frames'"});
}

TEST(ProcessorConfig, BadFilesNameFileAndKey) {
  expect_error([] { image_config(with(kHubImage, {{"size", {{"height", 224}, {"width", 224}}}})); },  // CLIP-style
               Error::Kind::InvalidInput, {"preprocessor_config.json", "'size'", "shortest_edge"});
  expect_error([] { image_config(with(kHubImage, {{"image_mean", {0.5, 0.5}}})); }, Error::Kind::InvalidInput,
               {"'image_mean'", "list of 3 numbers"});
  expect_error([] { image_config(with(kHubImage, {{"image_std", {0.5, 0, 0.5}}})); }, Error::Kind::InvalidInput,
               {"'image_std'", "divide by zero"});
  expect_error([] { image_config(with(kHubImage, {{"patch_size", "16"}})); }, Error::Kind::InvalidInput,
               {"'patch_size'", "expected an integer"});
  expect_error([] { image_config(with(kHubImage, {{"merge_size", 0}})); }, Error::Kind::InvalidInput,
               {"'merge_size'", "positive"});
  expect_error([] { image_config(with(kHubImage, {{"resample", 2}})); }, Error::Kind::Unsupported,
               {"'resample'", "bicubic"});
  expect_error([] { image_config(with(kHubImage, {{"do_normalize", false}})); }, Error::Kind::Unsupported,
               {"'do_normalize'"});
  expect_error([] { image_config(json::array()); }, Error::Kind::InvalidInput, {"expected a JSON object"});
}

TEST(ProcessorConfig, LoadsFiles) {
  trimvl::test::TempDir dir;
  trimvl::test::write_file(dir / "preprocessor_config.json", kHubImage.dump());
  trimvl::test::write_file(dir / "video_preprocessor_config.json", "{\"fps\": 1.5,}");
  EXPECT_EQ(load_image_processor_config(dir / "preprocessor_config.json").patches.min_pixels, 65536);
  expect_error([&] { load_video_processor_config(dir / "video_preprocessor_config.json"); },
               Error::Kind::InvalidInput, {"video_preprocessor_config.json", "invalid JSON"});
  expect_error([&] { load_image_processor_config(dir / "missing.json"); }, Error::Kind::NotFound,
               {"missing.json"});
}

// ---- images --------------------------------------------------------------------------------------

TEST(ImageProcessor, PatchesAreTheNormalizedPixelsInBlockOrder) {
  // A 32 x 64 image is already a multiple of the factor: no resampling, so every value can be
  // predicted: patch (row, col) of the 2 x 4 grid holds pixels [16 row, 16 row + 16) x [16 col, ...).
  const Frames image = frames_of({1, 32, 64, 3});
  const ProcessedImage out = process_image(image, image_config(with(kHubImage, {{"min_pixels", 1}})));
  ASSERT_EQ(out.grid, (GridThw{1, 2, 4}));
  EXPECT_EQ(out.resized, (ImageSize{32, 64}));
  ASSERT_EQ(out.pixel_values.sizes(), (at::IntArrayRef{8, 3 * 2 * 16 * 16}));
  const at::Tensor normalized = (image.rgb[0].to(at::kFloat) - 127.5f) / 127.5f;  // [H, W, C]
  const int64_t order[8][2] = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}};  // 2 x 2 blocks
  for (int64_t i = 0; i < 8; ++i) {
    const auto [row, col] = order[i];
    const at::Tensor patch = normalized.slice(0, 16 * row, 16 * row + 16).slice(1, 16 * col, 16 * col + 16);
    const at::Tensor expected = patch.permute({2, 0, 1}).unsqueeze(1).expand({3, 2, 16, 16}).reshape({-1});
    EXPECT_TRUE(at::equal(out.pixel_values[i], expected)) << "patch " << i;
  }
}

TEST(ImageProcessor, OnePixelImageIsUpsampledToMinPixels) {
  const Frames pixel = frames_of({1, 1, 1, 3});
  const ProcessedImage out = process_image(pixel, image_config(kHubImage));
  EXPECT_EQ(out.resized, (ImageSize{256, 256}));
  EXPECT_EQ(out.grid, (GridThw{1, 16, 16}));
  // A constant image stays constant through the antialiased bicubic filter: every patch holds the
  // pixel's normalized value in each channel's 2 x 16 x 16 slice.
  const at::Tensor value = (pixel.rgb.view({1, 3, 1}).to(at::kFloat) - 127.5f) / 127.5f;
  EXPECT_TRUE(at::equal(out.pixel_values.view({256, 3, 512}), value.expand({256, 3, 512})));
}

TEST(ImageProcessor, BadImagesNameTheSource) {
  const ImageProcessorConfig hub = image_config(kHubImage);
  expect_error([&] { process_image(frames_of({3, 40, 40, 3}, 2.0), hub); }, Error::Kind::InvalidInput,
               {"clip.safetensors", "one frame, got 3"});
  expect_error([&] { process_image(frames_of({1, 3, 700, 3}), hub); }, Error::Kind::InvalidInput,
               {"clip.safetensors", "aspect ratio"});
  expect_error([&] { process_image(Frames{}, hub); }, Error::Kind::InvalidInput, {"no image"});
  Frames floats = frames_of({1, 8, 8, 3});
  floats.rgb = floats.rgb.to(at::kFloat);
  expect_error([&] { process_image(floats, hub); }, Error::Kind::InvalidInput, {"clip.safetensors", "uint8"});
  expect_error([&] { process_image(frames_of({1, 8, 8, 4}), hub); }, Error::Kind::InvalidInput, {"[T, H, W, 3]"});
}

TEST(ImageProcessor, RefusesHugeFramesBeforeAllocating) {
  // 20000 x 20000 pixels that occupy 3 bytes: a broadcast view, as a careless caller might pass.
  Frames huge;
  huge.rgb = at::zeros({1, 1, 1, 3}, at::kByte).expand({1, 20000, 20000, 3});
  huge.source = "huge.png";
  expect_error([&] { process_image(huge, image_config(kHubImage)); }, Error::Kind::InvalidInput,
               {"huge.png", "20000 x 20000", "at most 268435456"});
}

TEST(ImageProcessor, RefusesHugeTargetsBeforeAllocating) {
  // A min_pixels of 2^30 would blow one pixel up to 32768 x 32768 (12 GiB of float32).
  const ImageProcessorConfig greedy = image_config(with(kHubImage, {{"min_pixels", int64_t{1} << 30}}));
  expect_error([&] { process_image(frames_of({1, 1, 1, 3}), greedy); }, Error::Kind::InvalidInput,
               {"32768 x 32768", "more than the limit"});
}

// ---- videos --------------------------------------------------------------------------------------

TEST(VideoProcessor, SamplesFramesLikeTransformers) {
  const VideoProcessorConfig hub = video_config(kHubVideo);
  // 40 frames at 10 fps -> 8 frames (the reference spec's example).
  EXPECT_EQ(sample_frame_indices(40, 10.0, hub), (std::vector<int64_t>{0, 6, 11, 17, 22, 28, 33, 39}));
  // Short clips take min_frames, but never more frames than there are.
  EXPECT_EQ(sample_frame_indices(30, 29.97, hub), (std::vector<int64_t>{0, 10, 19, 29}));
  EXPECT_EQ(sample_frame_indices(3, 30.0, hub), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(sample_frame_indices(1, 30.0, hub), (std::vector<int64_t>{0}));
  // A fixed count may exceed the frames: linspace repeats them, as numpy does.
  const VideoProcessorConfig count = video_config(with(kHubVideo, {{"fps", nullptr}, {"num_frames", 5}}));
  EXPECT_EQ(sample_frame_indices(15, 5.0, count), (std::vector<int64_t>{0, 4, 7, 10, 14}));  // 3.5 -> 4, 10.5 -> 10
  EXPECT_EQ(sample_frame_indices(2, 5.0, count), (std::vector<int64_t>{0, 0, 0, 1, 1}));
  expect_error([&] { sample_frame_indices(0, 5.0, hub); }, Error::Kind::InvalidInput, {"without frames"});
}

TEST(VideoProcessor, GroupTimestampsAverageEachTemporalPatch) {
  EXPECT_EQ(group_timestamps({0, 3, 6, 8, 11, 14}, 5.0, 2), (std::vector<double>{0.3, 1.4, 2.5}));
  // An odd count repeats the last frame, so the last group is that frame's time.
  EXPECT_EQ(group_timestamps({0, 2, 4}, 2.0, 2), (std::vector<double>{0.5, 2.0}));
}

TEST(VideoProcessor, OddFrameCountRepeatsTheLastFrame) {
  const Frames video = frames_of({9, 64, 64, 3}, 2.0);
  const ProcessedVideo out = process_video(video, video_config(kHubVideo));
  EXPECT_EQ(out.frame_indices, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  ASSERT_EQ(out.grid, (GridThw{5, 4, 4}));
  EXPECT_EQ(out.timestamps_s.size(), 5u);
  // In the last temporal group both frame slots hold frame 8: in each row (C, T, P, P) the two
  // 16 x 16 slices of a channel are equal.
  const at::Tensor last = out.pixel_values.slice(0, 4 * 16, 5 * 16).view({16, 3, 2, 256});
  EXPECT_TRUE(at::equal(last.select(2, 0), last.select(2, 1)));
  const at::Tensor first = out.pixel_values.slice(0, 0, 16).view({16, 3, 2, 256});
  EXPECT_FALSE(at::equal(first.select(2, 0), first.select(2, 1)));
}

TEST(VideoProcessor, PreSampledFramesGiveTheSameResult) {
  const Frames video = frames_of({40, 48, 40, 3}, 10.0);
  const VideoProcessorConfig hub = video_config(kHubVideo);
  const ProcessedVideo whole = process_video(video, hub);
  const at::Tensor sampled = video.rgb.index_select(0, at::tensor(whole.frame_indices, at::kLong));
  const ProcessedVideo decoded = process_sampled_video(sampled, whole.frame_indices, video.fps, hub);
  EXPECT_TRUE(at::equal(decoded.pixel_values, whole.pixel_values));
  EXPECT_EQ(decoded.grid, whole.grid);
  EXPECT_EQ(decoded.timestamps_s, whole.timestamps_s);
  expect_error([&] { process_sampled_video(sampled, {0, 1}, 10.0, hub); }, Error::Kind::InvalidInput,
               {"2 frame indices for 8 sampled frames"});
}

TEST(VideoProcessor, BadVideosNameTheSource) {
  const VideoProcessorConfig hub = video_config(kHubVideo);
  expect_error([&] { process_video(frames_of({1, 64, 64, 3}), hub); }, Error::Kind::InvalidInput,
               {"clip.safetensors", "at least 2 sampled frames"});
  expect_error([&] { process_video(frames_of({0, 64, 64, 3}, 2.0), hub); }, Error::Kind::InvalidInput,
               {"clip.safetensors", "without frames"});
  expect_error([&] { process_video(frames_of({6, 20, 20, 3}, 4.0), hub); }, Error::Kind::InvalidInput,
               {"clip.safetensors", "too small"});
  expect_error([&] { process_video(Frames{}, hub); }, Error::Kind::InvalidInput, {"no video"});
}

}  // namespace
}  // namespace trimvl::vision::qwen3vl
