// The media cache's bookkeeping (app/pipeline/media_cache.h): sizes from the tensors' bytes, least
// recently used out first, nothing stored beyond the capacity, nothing at all when disabled.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "app/pipeline/media_cache.h"

namespace trimvl::app {
namespace {

// One image of `tokens` tokens, hidden size 10, float32, with one DeepStack level: 2·tokens·10·4 bytes.
MediaSet image(int64_t tokens) {
  MediaSet set;
  set.image_inputs.push_back({{1, 2, tokens * 2}});
  set.images.push_back({at::ones({tokens, 10}), {at::zeros({tokens, 10})}});
  return set;
}

TEST(MediaSet, BytesCountTheItemsViews) {
  // Items of one encoder call are views of its outputs: 3 + 2 rows of a [5, 10] float32 tensor.
  const at::Tensor embeds = at::ones({5, 10});
  MediaSet set;
  set.images.push_back({embeds.narrow(0, 0, 3), {}});
  set.videos.push_back({embeds.narrow(0, 3, 2), {}});
  EXPECT_EQ(set.bytes(), 5 * 10 * 4);
  EXPECT_EQ(image(4).bytes(), 2 * 4 * 10 * 4);
}

TEST(MediaCache, HitSharesTheStoredTensors) {
  MediaCache cache(1 << 20);
  const MediaSet stored = image(3);
  cache.insert("a", stored);
  const auto hit = cache.find("a");
  ASSERT_TRUE(hit.has_value());
  ASSERT_EQ(hit->images.size(), 1u);
  EXPECT_EQ(hit->images[0].embeds.data_ptr(), stored.images[0].embeds.data_ptr());
  EXPECT_EQ(hit->images[0].deepstack[0].data_ptr(), stored.images[0].deepstack[0].data_ptr());
  EXPECT_EQ(hit->image_inputs[0].grid.w, 6);
  EXPECT_FALSE(cache.find("b").has_value());
}

TEST(MediaCache, LeastRecentlyUsedGoesFirst) {
  const int64_t entry = image(5).bytes();  // 400
  MediaCache cache(2 * entry + entry / 2);
  cache.insert("a", image(5));
  cache.insert("b", image(5));
  EXPECT_EQ(cache.bytes(), 2 * entry);
  ASSERT_TRUE(cache.find("a").has_value());  // b is now the least recently used
  cache.insert("c", image(5));
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.bytes(), 2 * entry);
  EXPECT_FALSE(cache.find("b").has_value());
  EXPECT_TRUE(cache.find("a").has_value());
  EXPECT_TRUE(cache.find("c").has_value());
}

TEST(MediaCache, ReplacingAKeyReplacesItsBytes) {
  MediaCache cache(1 << 20);
  cache.insert("a", image(5));
  cache.insert("a", image(2));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.bytes(), 2 * 2 * 10 * 4);
}

TEST(MediaCache, AnEntryBeyondTheCapacityIsNotStored) {
  const int64_t entry = image(5).bytes();
  MediaCache cache(entry);
  cache.insert("a", image(5));
  cache.insert("big", image(6));
  EXPECT_FALSE(cache.find("big").has_value());
  EXPECT_TRUE(cache.find("a").has_value());  // and nothing was evicted for it
  EXPECT_EQ(cache.bytes(), entry);
}

TEST(MediaCache, ZeroCapacityDisables) {
  MediaCache cache(0);
  EXPECT_FALSE(cache.enabled());
  cache.insert("a", MediaSet{});
  EXPECT_FALSE(cache.find("a").has_value());
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace trimvl::app
