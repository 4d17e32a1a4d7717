// Decoding images and videos (vision/media) against what transformers 4.57.1's loaders produce
// (tests/golden/gen_media.py), and the bad-input corpus: each bad file is one clear Error naming it.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"
#include "vision/media/image_decoder.h"
#include "vision/media/image_header.h"
#include "vision/media/load_frames.h"
#include "vision/media/video_decoder.h"
#include "vision/qwen3vl/video_processor.h"

namespace trimvl::vision::media {
namespace {

namespace fs = std::filesystem;

struct Golden {
  fs::path dir = test::golden_dir("media");
  io::SafetensorsFile expected = io::SafetensorsFile::open(dir / "expected.safetensors");
};

const Golden& golden() {
  static const Golden g;
  return g;
}

// The Error a bad file raises, with the file named in it.
template <class F>
Error error_of(const fs::path& path, F&& decode) {
  try {
    decode(path);
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), path.string()) << e.what();
    return e;
  }
  ADD_FAILURE() << path << " decoded without an error";
  return Error("no error");
}

class LosslessImage : public ::testing::TestWithParam<std::string> {};

TEST_P(LosslessImage, MatchesLoadImageExactly) {
  const std::string name = GetParam();
  const Frames f = decode_image(golden().dir / "images" / name);
  const at::Tensor want = golden().expected.tensor("images/" + name);
  ASSERT_EQ(f.rgb.sizes(), want.sizes()) << name;
  EXPECT_TRUE(at::equal(f.rgb, want)) << name << ": max |diff| "
                                      << (f.rgb.to(at::kInt) - want.to(at::kInt)).abs().max().item<int>();
  EXPECT_EQ(f.fps, 0);
  EXPECT_EQ(f.timestamps_s, std::vector<double>{0.0});
  EXPECT_EQ(f.source, (golden().dir / "images" / name).string());
}

INSTANTIATE_TEST_SUITE_P(Media, LosslessImage,
                         ::testing::Values("rgb_odd.png", "rgba.png", "l.png", "la.png", "p_trns.png", "grey16.png",
                                           "rgb16.png", "rgba16.png", "la16.png", "one_pixel.png", "rgb.bmp"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// Both sides decode with libjpeg-turbo's default (islow IDCT, fancy upsampling), but Pillow's
// wheel bundles its own libjpeg-turbo build while OpenCV uses the system one; versions may round
// differently (with Pillow 12.0's and Debian 12's they agree exactly). One level per channel covers
// IDCT rounding; a wrong orientation or colour order differs by far more on this random-noise image.
class ExifJpeg : public ::testing::TestWithParam<int> {};

TEST_P(ExifJpeg, OrientationAppliedAsExifTranspose) {
  const std::string name = "exif" + std::to_string(GetParam()) + ".jpg";
  const Frames f = decode_image(golden().dir / "images" / name);
  const at::Tensor want = golden().expected.tensor("images/" + name);
  ASSERT_EQ(f.rgb.sizes(), want.sizes()) << name;
  TRIMVL_EXPECT_CLOSE(f.rgb.to(at::kInt), want.to(at::kInt), 0, 1);
}

INSTANTIATE_TEST_SUITE_P(Media, ExifJpeg, ::testing::Range(1, 9));

TEST(MediaBadImages, EachIsOneClearError) {
  const fs::path bad = golden().dir / "bad";
  EXPECT_NE(std::string(error_of(bad / "empty.png", decode_image).what()).find("empty"), std::string::npos);
  error_of(bad / "truncated.png", decode_image);
  EXPECT_NE(std::string(error_of(bad / "truncated.jpg", decode_image).what()).find("cut short"), std::string::npos);
  error_of(bad / "random.jpg", decode_image);
  const Error huge = error_of(bad / "huge_header.png", decode_image);
  EXPECT_NE(std::string(huge.what()).find("30000 x 30000"), std::string::npos) << huge.what();
  const Error missing = error_of(bad / "no_such.png", decode_image);
  EXPECT_EQ(missing.kind(), Error::Kind::NotFound);
}

TEST(MediaImageHeader, RefusesOversizeBeforeDecoding) {
  test::TempDir dir;
  // A JPEG of only markers: SOI, an APP0 segment, then SOF0 declaring 20000 x 20000.
  const std::string jpeg("\xFF\xD8\xFF\xE0\x00\x04\x00\x00\xFF\xC0\x00\x11\x08\x4E\x20\x4E\x20\x03", 18);
  EXPECT_EQ(read_image_dims(jpeg).width, 20000);
  EXPECT_EQ(read_image_dims(jpeg).height, 20000);
  test::write_file(dir / "big.jpg", jpeg + std::string("\xFF\xD9", 2));
  EXPECT_NE(std::string(error_of(dir / "big.jpg", decode_image).what()).find("20000 x 20000"), std::string::npos);
  // Cut inside the segment list: no frame header found.
  EXPECT_THROW(read_image_dims(jpeg.substr(0, 9)), Error);
  EXPECT_THROW(read_image_dims("GIF89a"), Error);
}

std::vector<double> doubles(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

// The reference is the ffmpeg CLI on the same libavcodec (see gen_media.py), so decoding is
// identical and the RGB conversion (bicubic swscale, BT.601 for unspecified YUV) is the CLI's:
// every frame must match exactly, YUV 4:2:0 (mpeg4) and rotated ones included.
class GoldenVideo : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenVideo, EveryFrameMatchesTheReference) {
  const std::string name = GetParam();
  const fs::path path = golden().dir / "videos" / name;
  const Frames f = load_frames(path);
  const at::Tensor want = golden().expected.tensor("videos/" + name);
  ASSERT_EQ(f.rgb.sizes(), want.sizes()) << name;
  EXPECT_TRUE(at::equal(f.rgb, want)) << name << ": max |diff| "
                                      << (f.rgb.to(at::kInt) - want.to(at::kInt)).abs().max().item<int>();
  const std::vector<double> times = doubles(golden().expected.tensor("videos/" + name + ".times"));
  ASSERT_EQ(f.timestamps_s.size(), times.size());
  for (size_t i = 0; i < times.size(); ++i) EXPECT_NEAR(f.timestamps_s[i], times[i], 1e-9) << name << " frame " << i;
  EXPECT_EQ(f.fps, std::stod(golden().expected.metadata().at("videos/" + name + ".fps")));
  EXPECT_EQ(f.source, path.string());
}

INSTANTIATE_TEST_SUITE_P(Media, GoldenVideo,
                         ::testing::Values("ffv1_rgb_13.mkv", "vfr.mkv", "mpeg4_21.mp4", "rotated90.mp4",
                                           "rotated180.mp4", "rotated270.mp4"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

TEST(MediaVideo, DecodesOnlyTheFramesTheProcessorSamples) {
  const fs::path path = golden().dir / "videos" / "mpeg4_21.mp4";
  qwen3vl::VideoProcessorConfig config = qwen3vl::default_video_processor_config();
  config.fps = 2;  // 21 frames at 25 fps: 0.84 s -> int(1.68) = 1, raised to min_frames
  config.min_frames = 4;
  const DecodedVideo d = decode_video(path, [&](const VideoInfo& v) {
    EXPECT_EQ(v.frame_count, 21);
    EXPECT_EQ(v.fps, 25.0);
    return qwen3vl::sample_frame_indices(v.frame_count, v.fps, config);
  });
  EXPECT_EQ(d.frame_indices, (std::vector<int64_t>{0, 7, 13, 20}));  // linspace(0, 20, 4) rounded half to even
  const at::Tensor all = golden().expected.tensor("videos/mpeg4_21.mp4");
  ASSERT_EQ(d.frames.rgb.size(0), 4);
  const at::Tensor want = all.index_select(0, at::tensor(d.frame_indices, at::kLong));
  EXPECT_TRUE(at::equal(d.frames.rgb, want));
  const std::vector<double> times = {0.0, 0.28, 0.52, 0.8};  // index / 25 fps
  ASSERT_EQ(d.frames.timestamps_s.size(), times.size());
  for (size_t i = 0; i < times.size(); ++i) EXPECT_NEAR(d.frames.timestamps_s[i], times[i], 1e-9);
}

TEST(MediaVideo, ChosenIndicesAreChecked) {
  const fs::path path = golden().dir / "videos" / "ffv1_rgb_13.mkv";
  EXPECT_THROW(decode_video(path, [](const VideoInfo&) { return std::vector<int64_t>{3, 2}; }), Error);
  EXPECT_THROW(decode_video(path, [](const VideoInfo&) { return std::vector<int64_t>{13}; }), Error);
  EXPECT_THROW(decode_video(path, [](const VideoInfo&) { return std::vector<int64_t>{}; }), Error);
}

TEST(MediaBadVideos, EachIsOneClearError) {
  const fs::path bad = golden().dir / "bad";
  for (const char* name : {"audio_only.wav", "audio_only.mp4"})
    EXPECT_NE(std::string(error_of(bad / name, load_frames).what()).find("no video stream"), std::string::npos);
  error_of(bad / "truncated.mp4", load_frames);
  EXPECT_NE(std::string(error_of(bad / "truncated_faststart.mp4", load_frames).what()).find("the video ends after"),
            std::string::npos);
  error_of(bad / "corrupt_stream.mkv", load_frames);
  EXPECT_EQ(error_of(bad / "missing.mp4", load_frames).kind(), Error::Kind::NotFound);
}

TEST(MediaLoadFrames, DispatchesOnTheExtension) {
  test::TempDir dir;
  const fs::path png = golden().dir / "images" / "rgb_odd.png";
  EXPECT_TRUE(at::equal(load_frames(png).rgb, golden().expected.tensor("images/rgb_odd.png")));
  fs::copy_file(png, dir / "UPPER.PNG");
  EXPECT_TRUE(at::equal(load_frames(dir / "UPPER.PNG").rgb, golden().expected.tensor("images/rgb_odd.png")));
  const at::Tensor rgb = golden().expected.tensor("videos/ffv1_rgb_13.mkv");
  save_frames_safetensors(dir / "v.safetensors", {rgb, 10.0, {}, ""});
  EXPECT_TRUE(at::equal(load_frames(dir / "v.safetensors").rgb, rgb));
  // An image under a video's name still decodes: FFmpeg probes the content, not the extension.
  fs::copy_file(png, dir / "still.mov");
  EXPECT_EQ(load_frames(dir / "still.mov").rgb.size(0), 1);
}

}  // namespace
}  // namespace trimvl::vision::media
