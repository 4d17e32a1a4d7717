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
                                           "rgb16.png", "one_pixel.png", "rgb.bmp"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
                           return n;
                         });

// Both sides decode with libjpeg-turbo's default (islow IDCT, fancy upsampling), but Pillow's
// wheel bundles its own libjpeg-turbo build while OpenCV uses the system one; versions may round
// differently. One level per channel covers IDCT rounding; a wrong orientation or colour order
// differs by far more on this random-noise image.
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

}  // namespace
}  // namespace trimvl::vision::media
