// The paged decode kernels (kernels/ops/paged_attention.h) against the ATen reference
// (cache/paged_attention.h) on the device: random pools, shuffled block tables, streams of very
// different lengths (split-K on and off), every supported dtype, head dim and query group. Skips
// where no CUDA device exists (CI).
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "cache/paged_attention.h"
#include "kernels/ops/paged_attention.h"
#include "kernels/runtime/dtype.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::cache {
namespace {

constexpr int64_t kBlock = 16;

struct Pool {
  ops::PagedView view;
  std::vector<std::vector<int32_t>> tables;  // per stream
};

// `lengths` streams in a pool of shuffled blocks; keys/values N(0, 1) in `dtype`, every slot
// written (random), the table padded with -1 past each stream's blocks (never read).
Pool make_pool(const std::vector<int64_t>& lengths, int64_t dim, at::ScalarType dtype, int64_t capacity,
               at::Generator& gen) {
  const auto cuda = at::TensorOptions().device(at::kCUDA);
  int64_t blocks = 0;
  for (const int64_t l : lengths) blocks += (l + kBlock - 1) / kBlock;
  blocks += 3;  // free blocks never referenced
  const at::Tensor order = at::randperm(blocks, gen, at::kInt);
  Pool p;
  at::Tensor table = at::full({static_cast<int64_t>(lengths.size()), capacity / kBlock}, -1, at::kInt);
  int64_t next = 0;
  for (size_t s = 0; s < lengths.size(); ++s) {
    std::vector<int32_t> own;
    for (int64_t b = 0; b < (lengths[s] + kBlock - 1) / kBlock; ++b) {
      own.push_back(order[next++].item<int32_t>());
      table[static_cast<int64_t>(s)][b] = own.back();
    }
    p.tables.push_back(std::move(own));
  }
  p.view.keys = at::randn({blocks * kBlock, dim}, gen).to(cuda.dtype(dtype));
  p.view.values = at::randn({blocks * kBlock, dim}, gen).to(cuda.dtype(dtype));
  p.view.positions = at::zeros({blocks * kBlock}, cuda.dtype(at::kLong));
  p.view.log_beta = at::zeros({blocks * kBlock}, cuda.dtype(dtype));
  p.view.block_table = table.to(at::kCUDA);
  p.view.lengths = at::tensor(lengths, at::kLong).to(cuda.dtype(at::kInt));
  p.view.block_size = kBlock;
  return p;
}

// The rows of streams first.. in a padded [H, W, D] batch, as PagedKvCache gathers them.
std::pair<at::Tensor, at::Tensor> gather(const Pool& p, const std::vector<int64_t>& lengths, int64_t first,
                                         int64_t heads) {
  const int64_t width = *std::max_element(lengths.begin() + first, lengths.begin() + first + heads);
  at::Tensor slots = at::zeros({heads, width}, at::kLong);
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < lengths[static_cast<size_t>(first + h)]; ++i)
      slots[h][i] = int64_t{p.tables[static_cast<size_t>(first + h)][static_cast<size_t>(i / kBlock)]} * kBlock +
                    i % kBlock;
  const at::Tensor flat = slots.view(-1).to(at::kCUDA);
  const int64_t d = p.view.keys.size(1);
  return {p.view.keys.index_select(0, flat).view({heads, width, d}),
          p.view.values.index_select(0, flat).view({heads, width, d})};
}

double relative_error(const at::Tensor& got, const at::Tensor& want) {
  return (got.to(at::kDouble) - want).norm().item<double>() / want.norm().item<double>();
}

TEST(PagedDecodeGpu, MatchesTheReferenceForEveryDtypeDimAndGroup) {
  TRIMVL_REQUIRE_CUDA();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(21);
  // Two layers of three kv heads; layer 1 is attended, so its streams start at 3. One stream of a
  // single token (a head that was emptied, plus the new one), one that ends mid-block, one long
  // enough for several splits.
  // A capacity of 64 leaves one range per stream (the kernel writes the output itself, no combine);
  // one of 2048 cuts a stream into at most 8 ranges, which merge in a cluster (1, 3 and 8 ranges
  // here); larger ones merge through partials and a counter.
  const std::vector<int64_t> long_lengths = {5, 40, 7, 1, 333, 4099}, short_lengths = {5, 40, 7, 1, 64, 33},
                             mid_lengths = {5, 40, 7, 1, 333, 1500};
  const int64_t first = 3, heads = 3;
  for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    // fp32: accumulation order only; bf16/fp16: the output's own rounding (2^-8 / 2^-11 per element).
    const double tolerance = dtype == at::kFloat ? 1e-5 : dtype == at::kBFloat16 ? 8e-3 : 2e-3;
    for (const int64_t dim : {64, 128}) {
      for (const int64_t group : {1, 2, 4, 8}) {
        for (const int64_t capacity : {64, 2048, 8192, 16384}) {  // a larger capacity: more splits
          const std::vector<int64_t>& lengths =
              capacity == 64 ? short_lengths : capacity == 2048 ? mid_lengths : long_lengths;
          SCOPED_TRACE(fmt::format("{} D={} G={} capacity {}", c10::toString(dtype), dim, group, capacity));
          const Pool p = make_pool(lengths, dim, dtype, capacity, gen);
          const at::Tensor q = at::randn({heads * group, dim}, gen).to(at::TensorOptions(at::kCUDA).dtype(dtype));
          ASSERT_TRUE(ops::paged_decode_supported(q, heads));
          EXPECT_EQ(ops::paged_decode_merges_in_clusters(q, heads, capacity), capacity == 2048);
          const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
          const at::Tensor got = ops::paged_decode_attention(q, p.view, first, heads, capacity, scale);
          const auto [keys, values] = gather(p, lengths, first, heads);
          const std::vector<int64_t> rows(lengths.begin() + first, lengths.begin() + first + heads);
          const at::Tensor want = attend_new_tokens(q.unsqueeze(0).to(at::kDouble), keys.to(at::kDouble),
                                                    values.to(at::kDouble), rows, scale)
                                      .squeeze(0);
          ASSERT_FALSE(got.isnan().any().item<bool>());
          EXPECT_LT(relative_error(got, want), tolerance);
        }
      }
    }
  }
}

// Long streams cut into many ranges, merged in the launch by each stream's last CTA: every split
// shape gives the reference's result, a second launch on the same counters gives the same bits
// (the merging CTA zeroed them), and the counters are zero afterwards.
TEST(PagedDecodeGpu, RangesMergeInOneLaunchAndLeaveTheirCountersZero) {
  TRIMVL_REQUIRE_CUDA();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(33);
  const std::vector<int64_t> lengths = {40000, 3, 4099, 65536};  // one stream fills the capacity
  const int64_t first = 0, heads = 4, capacity = 65536;
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const double tolerance = dtype == at::kFloat ? 1e-5 : 8e-3;
    for (const auto& [dim, group] : {std::pair<int64_t, int64_t>{128, 4}, {64, 8}}) {
      Pool p = make_pool(lengths, dim, dtype, capacity, gen);
      p.view.split_counters = at::zeros({heads}, at::TensorOptions(at::kCUDA).dtype(at::kInt));
      const at::Tensor q = at::randn({heads * group, dim}, gen).to(at::TensorOptions(at::kCUDA).dtype(dtype));
      const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
      const auto [keys, values] = gather(p, lengths, first, heads);
      const at::Tensor want =
          attend_new_tokens(q.unsqueeze(0).to(at::kDouble), keys.to(at::kDouble), values.to(at::kDouble), lengths, scale)
              .squeeze(0);
      for (const int64_t waves : {1, 2, 16}) {
        SCOPED_TRACE(fmt::format("{} D={} G={} waves {}", c10::toString(dtype), dim, group, waves));
        const at::Tensor got = ops::paged_decode_attention(q, p.view, first, heads, capacity, scale, waves);
        ASSERT_FALSE(got.isnan().any().item<bool>());
        EXPECT_LT(relative_error(got, want), tolerance);
        const at::Tensor again = ops::paged_decode_attention(q, p.view, first, heads, capacity, scale, waves);
        EXPECT_TRUE(at::equal(got, again));
        EXPECT_EQ(p.view.split_counters.count_nonzero().item<int64_t>(), 0);
      }
    }
  }
}

TEST(PagedDecodeGpu, UnsupportedShapesAreRefusedNotMiscomputed) {
  TRIMVL_REQUIRE_CUDA();
  const auto cuda = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  EXPECT_FALSE(ops::paged_decode_supported(at::zeros({6, 128}, cuda), 2));  // group 3
  EXPECT_FALSE(ops::paged_decode_supported(at::zeros({4, 96}, cuda), 2));   // head dim 96
  EXPECT_FALSE(ops::paged_decode_supported(at::zeros({4, 128}, at::kBFloat16), 2));  // CPU
  EXPECT_TRUE(ops::paged_decode_supported(at::zeros({4, 128}, cuda), 2));
}

// The decode launch appends the step's token as it attends (the cache's decode path): the token's
// key, value, position and log β land in its slot, a slot that opens a block enters the device table
// (where the entry was -1), a mid-block one leaves the table as it was — and the attention equals the
// reference over the pool with the token in it, though that slot held other values before the
// launch. Streams of one range and of several (the token in the last, alone in it for one stream).
TEST(PagedDecodeGpu, DecodeAppendsTheTokenAndAttendsToIt) {
  TRIMVL_REQUIRE_CUDA();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const int64_t dim = 128, heads = 4, group = 4, first = 4, capacity = 512;
  // Layer 1's streams (4..7): mid-block, opening a block, mid-block over three ranges (of at least
  // 128), opening a block that is the second range's only token.
  const std::vector<int64_t> after = {3, 9, 21, 40, 21, 17, 300, 129};
  for (const bool gated : {true, false}) {
    SCOPED_TRACE(gated ? "with log β" : "without log β");
    Pool p = make_pool(after, dim, at::kBFloat16, capacity, gen);
    const auto cuda = at::TensorOptions().device(at::kCUDA);
    for (const int s : {5, 7}) p.view.block_table[s][(after[static_cast<size_t>(s)] - 1) / kBlock].fill_(-1);
    std::vector<int32_t> slots(after.size(), 0);
    for (size_t s = 0; s < after.size(); ++s)
      slots[s] = p.tables[s][static_cast<size_t>((after[s] - 1) / kBlock)] * static_cast<int32_t>(kBlock) +
                 static_cast<int32_t>((after[s] - 1) % kBlock);
    const ops::AppendedToken token{.k = at::randn({heads, dim}, gen).to(cuda.dtype(at::kBFloat16)),
                                   .v = at::randn({heads, dim}, gen).to(cuda.dtype(at::kBFloat16)),
                                   .log_beta = gated ? at::randn({heads}, gen).to(cuda.dtype(at::kBFloat16))
                                                     : at::Tensor(),
                                   .slots = at::tensor(slots, at::kInt).to(at::kCUDA),
                                   .position = at::full({1}, 1234, cuda.dtype(at::kLong))};
    const at::Tensor log_beta_before = p.view.log_beta.clone();
    const at::Tensor q = at::randn({heads * group, dim}, gen).to(cuda.dtype(at::kBFloat16));
    const double scale = 1.0 / std::sqrt(static_cast<double>(dim));
    const at::Tensor got =
        ops::paged_decode_attention(q, p.view, first, heads, capacity, scale, ops::kDecodeWaves, &token);
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t slot = slots[static_cast<size_t>(first + h)];
      EXPECT_TRUE(at::equal(p.view.keys[slot], token.k[h]));
      EXPECT_TRUE(at::equal(p.view.values[slot], token.v[h]));
      EXPECT_EQ(p.view.positions[slot].item<int64_t>(), 1234);
      EXPECT_TRUE(at::equal(p.view.log_beta[slot], gated ? token.log_beta[h] : log_beta_before[slot]));
    }
    EXPECT_EQ(p.view.block_table[5][1].item<int32_t>(), p.tables[5][1]);    // 17 tokens: opened (was -1)
    EXPECT_EQ(p.view.block_table[7][8].item<int32_t>(), p.tables[7][8]);    // 129 tokens: opened (was -1)
    EXPECT_EQ(p.view.block_table[4][1].item<int32_t>(), p.tables[4][1]);    // mid-block: unchanged
    EXPECT_EQ(p.view.block_table[6][18].item<int32_t>(), p.tables[6][18]);  // mid-block: unchanged
    const auto [keys, values] = gather(p, after, first, heads);
    const std::vector<int64_t> rows(after.begin() + first, after.end());
    const at::Tensor want = attend_new_tokens(q.unsqueeze(0).to(at::kDouble), keys.to(at::kDouble),
                                              values.to(at::kDouble), rows, scale)
                                .squeeze(0);
    EXPECT_LT(relative_error(got, want), 8e-3);
  }
}

}  // namespace
}  // namespace trimvl::cache
