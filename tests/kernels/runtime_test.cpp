#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <thread>

#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "kernels/runtime/host_threads.h"
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

TEST(HostThreads, OneOnAGpuUnlessTheUserChose) {
  const c10::Device gpu(c10::kCUDA, 0), cpu(c10::kCPU);
  EXPECT_EQ(host_threads_for(gpu, nullptr, 16), 1);
  EXPECT_EQ(host_threads_for(gpu, "", 16), 1);  // set but empty: not a choice
  EXPECT_EQ(host_threads_for(gpu, "8", 16), 16);  // ATen already applied the user's count
  EXPECT_EQ(host_threads_for(cpu, nullptr, 16), 16);  // the model's own work: every core
  EXPECT_EQ(host_threads_for(cpu, "2", 16), 16);
}

// Restores ATen's thread count and OMP_NUM_THREADS when a test ends.
class HostThreadsApplied : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("OMP_NUM_THREADS")) omp_ = v;
    unsetenv("OMP_NUM_THREADS");
  }
  void TearDown() override {
    at::set_num_threads(threads_);
    if (omp_) setenv("OMP_NUM_THREADS", omp_->c_str(), 1);
  }
  const int threads_ = at::get_num_threads();
  std::optional<std::string> omp_;
};

TEST_F(HostThreadsApplied, AGpuModelLeavesOneThreadHereAndInThreadsStartedLater) {
  at::set_num_threads(4);
  EXPECT_EQ(fit_host_threads(c10::Device(c10::kCPU)), 4);
  EXPECT_EQ(fit_host_threads(c10::Device(c10::kCUDA, 0)), 1);  // no GPU needed: only the count moves
  int later = 0;
  std::thread([&] { later = at::get_num_threads(); }).join();
  EXPECT_EQ(later, 1);
}

TEST_F(HostThreadsApplied, OmpNumThreadsWins) {
  at::set_num_threads(3);
  setenv("OMP_NUM_THREADS", "3", 1);
  EXPECT_EQ(fit_host_threads(c10::Device(c10::kCUDA, 0)), 3);
}

}  // namespace
}  // namespace trimvl
