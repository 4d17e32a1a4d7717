#include <gtest/gtest.h>

#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/log.h"

namespace trimvl {
namespace {

TEST(Error, RendersContextInFixedOrder) {
  Error e = Error("offsets overlap").tensor("a.weight").file("/m/model.safetensors");
  EXPECT_STREQ(e.what(), "/m/model.safetensors: tensor 'a.weight': offsets overlap");
  EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
  Error l = Error("unexpected key", Error::Kind::Unsupported).file("data.jsonl").line(7);
  EXPECT_STREQ(l.what(), "data.jsonl: line 7: unexpected key");
  EXPECT_EQ(l.kind(), Error::Kind::Unsupported);
}

TEST(Error, CheckMacrosThrowWithFormattedMessage) {
  try {
    TRIMVL_CHECK_ARG(1 + 1 == 3, "budget must be positive, got {}", -4);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.message(), "budget must be positive, got -4");
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
  }
  EXPECT_THROW(TRIMVL_CHECK(false, "x"), Error);
  EXPECT_NO_THROW(TRIMVL_CHECK(true, "never formatted {}", 1));
}

TEST(Log, LevelsParseAndFilter) {
  EXPECT_EQ(log::parse_level("debug"), log::Level::Debug);
  EXPECT_EQ(log::parse_level("warning"), log::Level::Warn);
  EXPECT_THROW(log::parse_level("loud"), Error);
  const auto saved = log::level();
  log::set_level(log::Level::Warn);
  EXPECT_FALSE(log::enabled(log::Level::Info));
  EXPECT_TRUE(log::enabled(log::Level::Error));
  log::set_level(log::Level::Off);
  EXPECT_FALSE(log::enabled(log::Level::Error));
  log::set_level(saved);
}

TEST(Dtype, ParsesUserSpellings) {
  EXPECT_EQ(parse_dtype("bf16"), c10::kBFloat16);
  EXPECT_EQ(parse_dtype("float16"), c10::kHalf);
  EXPECT_EQ(parse_dtype("fp32"), c10::kFloat);
  EXPECT_THROW(parse_dtype("int4"), Error);
  EXPECT_EQ(dtype_name(c10::kBFloat16), "bf16");
}

TEST(Device, ParsesAndValidates) {
  EXPECT_EQ(parse_device("cpu"), c10::Device(c10::kCPU));
  EXPECT_THROW(parse_device("tpu"), Error);
  EXPECT_THROW(parse_device("cuda:x"), Error);
  EXPECT_THROW(parse_device("cuda:-1"), Error);
  if (cuda_available()) {
    EXPECT_EQ(parse_device("cuda").index(), 0);
    EXPECT_THROW(parse_device("cuda:999"), Error);
  } else {
    EXPECT_THROW(parse_device("cuda"), Error);
  }
}

}  // namespace
}  // namespace trimvl
