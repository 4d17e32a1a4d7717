// Qwen3-VL M-RoPE position ids on hand-built block layouts. The first layout and its positions are
// the worked example that hf-models-spec.md §2.5 records from transformers' get_rope_index.
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "language/qwen3vl/rope_index.h"

namespace trimvl::qwen3vl {
namespace {

VisionBlock block(int64_t offset, Modality modality, int32_t rows, int32_t cols) {
  VisionBlock b;
  b.offset = offset;
  b.modality = modality;
  b.rows = rows;
  b.cols = cols;
  return b;
}

at::Tensor rows(const std::vector<std::vector<int64_t>>& values) {
  at::Tensor out = at::empty({static_cast<int64_t>(values.size()), static_cast<int64_t>(values[0].size())}, at::kLong);
  for (std::size_t r = 0; r < values.size(); ++r)
    for (std::size_t c = 0; c < values[r].size(); ++c) out[r][c] = values[r][c];
  return out;
}

TEST(Qwen3VLRopeIndex, ImageThenTwoVideoGroupsWithTextBetween) {
  // [a, b, VS, I×4, VE, c, VS, V×4, VE, d, VS, V×4, VE, e]: an image grid (1,4,4) and a video
  // grid (2,4,4), whose two temporal groups are separate blocks.
  const std::vector<VisionBlock> blocks = {block(3, Modality::Image, 2, 2), block(10, Modality::Video, 2, 2),
                                           block(17, Modality::Video, 2, 2)};
  const MropePositions p = mrope_positions(23, blocks);
  const at::Tensor expected = rows({
      {0, 1, 2, 3, 3, 3, 3, 5, 6, 7, 8, 8, 8, 8, 10, 11, 12, 13, 13, 13, 13, 15, 16},
      {0, 1, 2, 3, 3, 4, 4, 5, 6, 7, 8, 8, 9, 9, 10, 11, 12, 13, 13, 14, 14, 15, 16},
      {0, 1, 2, 3, 4, 3, 4, 5, 6, 7, 8, 9, 8, 9, 10, 11, 12, 13, 14, 13, 14, 15, 16},
  });
  EXPECT_TRUE(at::equal(p.ids, expected)) << p.ids;
  EXPECT_EQ(p.delta, -6);
}

TEST(Qwen3VLRopeIndex, WideBlockAdvancesByItsLongerSide) {
  // One text token, a 2 x 3 block, one text token: the text after it starts at 1 + 3.
  const MropePositions p = mrope_positions(8, std::vector<VisionBlock>{block(1, Modality::Image, 2, 3)});
  EXPECT_TRUE(at::equal(p.ids, rows({{0, 1, 1, 1, 1, 1, 1, 4}, {0, 1, 1, 1, 2, 2, 2, 4}, {0, 1, 2, 3, 1, 2, 3, 4}})))
      << p.ids;
  EXPECT_EQ(p.delta, 5 - 8);
}

TEST(Qwen3VLRopeIndex, BlocksBackToBackAndAtTheEnds) {
  const MropePositions p = mrope_positions(
      3, std::vector<VisionBlock>{block(0, Modality::Video, 1, 1), block(1, Modality::Video, 1, 1),
                                  block(2, Modality::Image, 1, 1)});
  EXPECT_TRUE(at::equal(p.ids, rows({{0, 1, 2}, {0, 1, 2}, {0, 1, 2}})));
  EXPECT_EQ(p.delta, 0);
}

TEST(Qwen3VLRopeIndex, TextOnlyIsOneDimensional) {
  const MropePositions p = mrope_positions(5, {});
  EXPECT_TRUE(at::equal(p.ids, at::arange(5, at::kLong).expand({3, 5})));
  EXPECT_EQ(p.delta, 0);
}

TEST(Qwen3VLRopeIndex, BlocksThatDoNotFitAreRejected) {
  EXPECT_THROW(mrope_positions(4, std::vector<VisionBlock>{block(2, Modality::Image, 2, 2)}), Error);
  EXPECT_THROW(mrope_positions(9, std::vector<VisionBlock>{block(2, Modality::Image, 2, 2), block(4, Modality::Image, 1, 1)}),
               Error);
  EXPECT_THROW(mrope_positions(9, std::vector<VisionBlock>{block(2, Modality::Image, 0, 2)}), Error);
}

}  // namespace
}  // namespace trimvl::qwen3vl
