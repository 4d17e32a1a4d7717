// The decode kernel's split-K launch shape (kernels/ops/paged_attention.h), host arithmetic that
// decides how a stream is cut into CTAs; the kernel it shapes is tested on the device
// (tests/cache/paged_decode_gpu_test.cpp).
#include <gtest/gtest.h>

#include "kernels/ops/paged_attention.h"
#include "kernels/runtime/error.h"

namespace trimvl::ops {
namespace {

// An H100's resident decode CTAs at 4B shape: 4 per SM, 132 SMs.
constexpr int64_t kResident = 528;

TEST(DecodeSplit, FillsTheRequestedWavesAcrossTheKvHeads) {
  EXPECT_EQ(decode_split(65536, 8, kResident).num_splits, 66);  // one wave: 8 · 66 = 528 CTAs
  EXPECT_EQ(decode_split(65536, 8, kResident, 2).num_splits, 132);
  EXPECT_EQ(decode_split(65536, 8, kResident).min_split_tokens, 128);
}

TEST(DecodeSplit, ShortStreamsGetNoRangeShorterThanTheMinimum) {
  // 4096 tokens cut into ranges of at least 128: 32 ranges, though a wave would take 66.
  EXPECT_EQ(decode_split(4096, 8, kResident).num_splits, 32);
  EXPECT_EQ(decode_split(1024, 8, kResident).num_splits, 8);
  EXPECT_EQ(decode_split(128, 8, kResident).num_splits, 1);
}

TEST(DecodeSplit, StreamsOfOneClusterTakeAtMostEightRanges) {
  // 2048 tokens would be 16 ranges of 128, one cluster's worth: 8 of 256 instead.
  EXPECT_EQ(decode_split(2048, 8, kResident).num_splits, 8);
  EXPECT_EQ(decode_split(1536, 8, kResident).num_splits, 8);
  // Past one cluster (17 ranges of 128) the wave decides again.
  EXPECT_EQ(decode_split(2176, 8, kResident).num_splits, 17);
  // Never fewer than the kernel's longest range allows: 64 streams of 65536 tokens in a wave of
  // 528 CTAs would take 9, but ranges of at most 4096 need 16.
  EXPECT_EQ(decode_split(65536, 64, kResident).num_splits, 16);
}

TEST(DecodeSplit, LongStreamsGetNoRangeLongerThanTheKernelTakes) {
  // 1M tokens in ranges of at most 4096: 256 ranges, more than one wave asks for.
  EXPECT_EQ(decode_split(int64_t{1} << 20, 8, kResident).num_splits, 256);
  // At most 1024 ranges a stream, however many CTAs the device runs.
  EXPECT_EQ(decode_split(int64_t{1} << 20, 1, int64_t{1} << 20).num_splits, 1024);
  // 4M tokens need exactly 1024 ranges of 4096; 8M cannot be cut within both limits.
  EXPECT_EQ(decode_split(int64_t{1} << 22, 8, kResident).num_splits, 1024);
  EXPECT_THROW(decode_split(int64_t{1} << 23, 8, kResident), Error);
}

TEST(DecodeSplit, NonPositiveArgumentsAreRefused) {
  EXPECT_THROW(decode_split(0, 8, kResident), Error);
  EXPECT_THROW(decode_split(1024, 0, kResident), Error);
  EXPECT_THROW(decode_split(1024, 8, 0), Error);
  EXPECT_THROW(decode_split(1024, 8, kResident, 0), Error);
}

}  // namespace
}  // namespace trimvl::ops
