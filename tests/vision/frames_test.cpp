#include "vision/frames.h"

#include <fcntl.h>
#include <unistd.h>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::vision {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

at::Tensor pixels(at::IntArrayRef shape) {
  return at::arange(c10::multiply_integers(shape), at::kInt).remainder(251).to(at::kByte).reshape(shape);
}

TEST(Frames, VideoRoundTripsWithTimesFromFps) {
  TempDir dir;
  const at::Tensor rgb = pixels({3, 4, 5, 3});
  save_frames_safetensors(dir / "v.safetensors", {rgb, 2.5, {}, ""});
  const Frames f = load_frames_safetensors(dir / "v.safetensors");
  EXPECT_TRUE(at::equal(f.rgb, rgb));
  EXPECT_EQ(f.fps, 2.5);
  EXPECT_EQ(f.timestamps_s, (std::vector<double>{0.0, 0.4, 0.8}));
  EXPECT_EQ(f.source, (dir / "v.safetensors").string());
  EXPECT_EQ(io::SafetensorsFile::open(dir / "v.safetensors").metadata().at("fps"), "2.5");
}

TEST(Frames, ExplicitTimestampsRoundTrip) {
  TempDir dir;
  const at::Tensor rgb = pixels({3, 2, 2, 3});
  save_frames_safetensors(dir / "v.safetensors", {rgb, 30000.0 / 1001, {0.0, 0.5, 1.7}, ""});
  const Frames f = load_frames_safetensors(dir / "v.safetensors");
  EXPECT_EQ(f.fps, 30000.0 / 1001);  // the decimal text reads back exactly
  EXPECT_EQ(f.timestamps_s, (std::vector<double>{0.0, 0.5, 1.7}));
  EXPECT_TRUE(at::equal(f.rgb, rgb));
}

TEST(Frames, ReadsFilesAsPythonWritesThem) {
  // safetensors.torch.save_file({"frames": ..., "timestamps": float32}, metadata={"fps": "2.0", "format": "pt"})
  TempDir dir;
  const at::Tensor rgb = pixels({2, 3, 4, 3});
  io::save_safetensors(dir / "v.safetensors", {{"timestamps", at::tensor({0.25f, 0.75f})}, {"frames", rgb}},
                       {{"fps", "2.0"}, {"format", "pt"}});
  const Frames f = load_frames_safetensors(dir / "v.safetensors");
  EXPECT_EQ(f.fps, 2.0);
  EXPECT_EQ(f.timestamps_s, (std::vector<double>{0.25, 0.75}));
  EXPECT_TRUE(at::equal(f.rgb, rgb));
}

TEST(Frames, AnHwcTensorIsOneStillImage) {
  TempDir dir;
  const at::Tensor rgb = pixels({4, 6, 3});
  io::save_safetensors(dir / "i.safetensors", {{"frames", rgb}});
  const Frames f = load_frames_safetensors(dir / "i.safetensors");
  EXPECT_EQ(f.rgb.sizes(), (at::IntArrayRef{1, 4, 6, 3}));
  EXPECT_TRUE(at::equal(f.rgb[0], rgb));
  EXPECT_EQ(f.fps, 0.0);
  EXPECT_EQ(f.timestamps_s, std::vector<double>{0.0});
  // Saved back it is a [1, H, W, 3] file without fps, which loads the same.
  save_frames_safetensors(dir / "again.safetensors", f);
  const Frames again = load_frames_safetensors(dir / "again.safetensors");
  EXPECT_TRUE(at::equal(again.rgb, f.rgb));
  EXPECT_EQ(again.fps, 0.0);
  EXPECT_FALSE(io::SafetensorsFile::open(dir / "again.safetensors").metadata().contains("fps"));
}

// A frames file whose pixel data is a hole: the size is real, no disk or memory is used, and
// the loader must refuse it from the header alone.
void write_sparse_frames(const fs::path& path, int64_t height, int64_t width) {
  std::string header = fmt::format(R"({{"frames":{{"dtype":"U8","shape":[1,{},{},3],"data_offsets":[0,{}]}}}})",
                                   height, width, height * width * 3);
  header.resize((header.size() + 7) / 8 * 8, ' ');
  const uint64_t n = header.size();
  test::write_file(path, std::string(reinterpret_cast<const char*>(&n), sizeof n) + header);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(sizeof n + n + height * width * 3)), 0);
}

TEST(Frames, BadFilesFailNamingFileTensorAndReason) {
  struct Case {
    const char* label;
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    std::map<std::string, std::string> metadata;
    std::string tensor, reason;
  };
  const at::Tensor ok = pixels({2, 2, 2, 3});
  const std::map<std::string, std::string> fps = {{"fps", "2"}};
  const std::vector<Case> cases = {
      {"no tensors", {}, fps, "", "no \"frames\" tensor"},
      {"another tensor", {{"frames", ok}, {"model.weight", at::ones({2})}}, fps, "model.weight", "unexpected tensor"},
      {"float pixels", {{"frames", ok.to(at::kFloat)}}, fps, "frames", "dtype F32; frames are U8"},
      {"rank 2", {{"frames", pixels({4, 3})}}, fps, "frames", "rank 2; expected uint8 RGB of shape"},
      {"rank 5", {{"frames", pixels({1, 2, 2, 2, 3})}}, fps, "frames", "rank 5"},
      {"RGBA", {{"frames", pixels({2, 2, 2, 4})}}, fps, "frames", "channel count 4"},
      {"grey", {{"frames", pixels({2, 2, 1})}}, fps, "frames", "channel count 1"},
      {"no frames", {{"frames", pixels({0, 2, 2, 3})}}, fps, "frames", "no frames"},
      {"zero height", {{"frames", pixels({2, 0, 2, 3})}}, fps, "frames", "frames are empty"},
      {"zero width", {{"frames", pixels({2, 2, 0, 3})}}, fps, "frames", "frames are empty"},
      {"video without fps", {{"frames", ok}}, {}, "", "a video of 2 frames needs \"fps\""},
      {"fps text", {{"frames", ok}}, {{"fps", "fast"}}, "", "\"fps\" in __metadata__ must be a positive number"},
      {"fps trailing text", {{"frames", ok}}, {{"fps", "2.0fps"}}, "", "got \"2.0fps\""},
      {"fps empty", {{"frames", ok}}, {{"fps", ""}}, "", "must be a positive number"},
      {"fps zero", {{"frames", ok}}, {{"fps", "0"}}, "", "must be a positive number"},
      {"fps negative", {{"frames", ok}}, {{"fps", "-2"}}, "", "must be a positive number"},
      {"fps nan", {{"frames", ok}}, {{"fps", "nan"}}, "", "must be a positive number"},
      {"fps inf", {{"frames", ok}}, {{"fps", "inf"}}, "", "must be a positive number"},
      {"image fps zero", {{"frames", pixels({2, 2, 3})}}, {{"fps", "0"}}, "", "must be a positive number"},
      {"too few timestamps", {{"timestamps", at::tensor({0.0})}, {"frames", ok}}, fps, "timestamps",
       "1 timestamps for 2 frames"},
      {"timestamps backwards", {{"timestamps", at::tensor({1.0, 0.5})}, {"frames", ok}}, fps, "timestamps",
       "timestamp 1 (0.5) does not come after timestamp 0 (1)"},
      {"timestamps repeat", {{"timestamps", at::tensor({1.0, 1.0})}, {"frames", ok}}, fps, "timestamps",
       "does not come after"},
      {"negative timestamp", {{"timestamps", at::tensor({-1.0, 0.5})}, {"frames", ok}}, fps, "timestamps",
       "timestamp 0 is -1"},
      {"NaN timestamp", {{"timestamps", at::tensor({0.0, NAN})}, {"frames", ok}}, fps, "timestamps",
       "timestamp 1 is nan"},
      {"integer timestamps", {{"timestamps", at::tensor({0, 1}, at::kLong)}, {"frames", ok}}, fps, "timestamps",
       "must be F64 or F32 of shape [T], got I64 [2]"},
      {"timestamps matrix", {{"timestamps", at::zeros({2, 1}, at::kDouble)}, {"frames", ok}}, fps, "timestamps",
       "got F64 [2, 1]"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    const fs::path path = dir / "bad.safetensors";
    io::save_safetensors(path, c.tensors, c.metadata);
    try {
      load_frames_safetensors(path);
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput) << e.what();
      EXPECT_EQ(e.file(), path.string());
      EXPECT_EQ(e.tensor(), c.tensor) << e.what();
      EXPECT_NE(e.message().find(c.reason), std::string::npos) << e.what();
    }
  }
}

TEST(Frames, HugeFramesAreRefusedFromTheHeaderAlone) {
  TempDir dir;
  write_sparse_frames(dir / "huge.safetensors", 16385, 16385);  // 805 MB of pixels, none stored
  try {
    load_frames_safetensors(dir / "huge.safetensors");
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), (dir / "huge.safetensors").string());
    EXPECT_EQ(e.tensor(), "frames");
    EXPECT_NE(e.message().find("16385 x 16385 pixels per frame exceeds the limit of 268435456"), std::string::npos)
        << e.what();
  }
  write_sparse_frames(dir / "largest.safetensors", 16384, 16384);  // exactly at the limit: accepted
  EXPECT_EQ(load_frames_safetensors(dir / "largest.safetensors").rgb.size(1), 16384);
}

TEST(Frames, NonFramesFilesFailAsSafetensors) {
  TempDir dir;
  test::write_file(dir / "photo.png", "\x89PNG\r\n\x1a\n....");
  try {
    load_frames_safetensors(dir / "photo.png");
    ADD_FAILURE() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), (dir / "photo.png").string());
    EXPECT_NE(e.message().find("header length"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_frames_safetensors(dir / "missing.safetensors"), Error);
}

TEST(Frames, SaveChecksFirstAndWritesNothingOnError) {
  struct Case {
    const char* label;
    Frames frames;
    std::string reason;
  };
  const at::Tensor ok = pixels({2, 2, 2, 3});
  const std::vector<Case> cases = {
      {"undefined", {at::Tensor(), 2, {}, ""}, "rgb is undefined"},
      {"float", {ok.to(at::kFloat), 2, {}, ""}, "dtype Float; frames are uint8 RGB"},
      {"channels first", {pixels({2, 3, 2, 2}), 2, {}, ""}, "channel count 2"},
      {"video without fps", {ok, 0, {}, ""}, "needs \"fps\""},
      {"negative fps", {ok, -1, {}, ""}, "fps must be a positive number"},
      {"timestamps", {ok, 2, {0.0}, ""}, "1 timestamps for 2 frames"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir dir;
    try {
      save_frames_safetensors(dir / "out.safetensors", c.frames);
      ADD_FAILURE() << "no throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.file(), (dir / "out.safetensors").string());
      EXPECT_NE(e.message().find(c.reason), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(dir.path()));
  }
}

}  // namespace
}  // namespace trimvl::vision
