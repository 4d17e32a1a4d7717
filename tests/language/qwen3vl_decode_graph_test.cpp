// DecodeGraph on the CPU, where every step runs eagerly: the same logits, bit for bit, as
// TextModel::forward + lm_head, and bad input refused with the cache left as it was. (Replays are
// tested on the device: qwen3vl_text_gpu_test.cpp.)
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/full_cache.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "language/qwen3vl/decode_graph.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_decoder.h"
#include "tests/language/qwen3vl_tiny_checkpoint.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

using cache::ForwardTokens;
using cache::Modality;

struct Tiny {
  test::TempDir dir;
  TextDecoder decoder;
  static TextDecoder load(const test::TempDir& dir) {
    const auto config = test::tiny_qwen3vl_config();
    test::write_tiny_qwen3vl(dir.path(), config, test::tiny_qwen3vl_tensors(config, 23));
    return TextDecoder::load(io::SafetensorsCheckpoint::open(dir.path()), TextConfig::load(dir / "config.json"),
                             at::kFloat, at::kCPU);
  }
  Tiny() : decoder(load(dir)) {}
};

void prefill(const TextDecoder& d, cache::KvCache& cache, int64_t n) {
  const at::Tensor ids = at::arange(n, at::kLong) * 5 % 90;
  d.model.forward(d.model.embed(ids), at::arange(n, at::kLong).expand({3, n}).contiguous(),
                  ForwardTokens::uniform(n, Modality::Text), cache);
}

TEST(Qwen3VLDecodeGraph, EagerStepsAreTextModelForwards) {
  Tiny t;
  const TextDecoder& d = t.decoder;
  const int layers = static_cast<int>(d.model.config().num_hidden_layers);
  cache::FullCache graph_cache(layers), plain_cache(layers);
  prefill(d, graph_cache, 7);
  prefill(d, plain_cache, 7);
  DecodeGraph graph(d);
  int64_t token = 3;
  for (int64_t position = 7; position < 13; ++position) {
    const at::Tensor ours = graph.step(at::full({1}, token, at::kLong), position, {.modality = Modality::Generated},
                                       graph_cache);
    const at::Tensor theirs =
        d.lm_head(d.model.forward(d.model.embed(at::full({1}, token, at::kLong)), at::full({3, 1}, position, at::kLong),
                                  ForwardTokens::uniform(1, Modality::Generated), plain_cache));
    ASSERT_TRUE(at::equal(ours, theirs)) << "step at position " << position;
    token = ours.argmax(-1).item<int64_t>();
  }
  EXPECT_EQ(graph.counters().eager, 6);
  EXPECT_EQ(graph.counters().replays + graph.counters().captures, 0);
  EXPECT_EQ(graph_cache.seen_tokens(), 13);
}

TEST(Qwen3VLDecodeGraph, BadInputLeavesTheCacheAsItWas) {
  Tiny t;
  const TextDecoder& d = t.decoder;
  cache::FullCache cache(static_cast<int>(d.model.config().num_hidden_layers));
  prefill(d, cache, 4);
  DecodeGraph graph(d);
  const auto generated = cache::TokenInfo{.modality = Modality::Generated};
  EXPECT_THROW(graph.step(at::full({1}, d.model.config().vocab_size, at::kLong), 4, generated, cache), Error);
  EXPECT_THROW(graph.step(at::full({1}, 1, at::kLong), d.model.config().max_position_embeddings, generated, cache),
               Error);
  EXPECT_THROW(graph.step(at::full({2}, 1, at::kLong), 4, generated, cache), Error);
  EXPECT_EQ(cache.seen_tokens(), 4);
  EXPECT_NO_THROW(graph.step(at::full({1}, 1, at::kLong), 4, generated, cache));
  EXPECT_EQ(cache.seen_tokens(), 5);
}

}  // namespace
}  // namespace trimvl::qwen3vl
