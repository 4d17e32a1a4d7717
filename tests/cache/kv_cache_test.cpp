// FullCache against attention written out in float64: chunked prefill and decode steps must give
// what one pass of causal attention over the whole stream gives, layer by layer, and a forward that
// is aborted must leave no trace.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/full_cache.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"

namespace trimvl::cache {
namespace {

constexpr int64_t kHeads = 6, kKvHeads = 2, kDim = 8;

// softmax(q·kᵀ·scale + causal mask)·v for a stream of N tokens, query head h reading kv head
// h / (H_q / H_kv): [N, H_q, D] in float64.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  const int64_t n = q.size(0), group = q.size(1) / k.size(1);
  at::Tensor out = at::zeros(q.sizes(), at::kDouble);
  for (int64_t h = 0; h < q.size(1); ++h) {
    const at::Tensor qh = q.select(1, h).to(at::kDouble), kh = k.select(1, h / group).to(at::kDouble),
                     vh = v.select(1, h / group).to(at::kDouble);
    at::Tensor scores = at::matmul(qh, kh.t()) * scale;  // [N, N]
    const at::Tensor future = at::ones({n, n}, at::kBool).triu(1);
    scores = scores.masked_fill(future, -std::numeric_limits<double>::infinity());
    const at::Tensor weights = (scores - std::get<0>(scores.max(1, true))).exp();
    out.select(1, h).copy_(at::matmul(weights / weights.sum(1, true), vh));
  }
  return out;
}

struct Stream {
  at::Tensor q, k, v;  // [N, H, D] per layer
};

Stream random_stream(int64_t n, at::ScalarType dtype) {
  return {at::randn({n, kHeads, kDim}).to(dtype), at::randn({n, kKvHeads, kDim}).to(dtype),
          at::randn({n, kKvHeads, kDim}).to(dtype)};
}

// Runs `stream` (one per layer) through the cache in forwards of the given sizes; returns each
// layer's outputs, concatenated.
std::vector<at::Tensor> run_chunked(FullCache& cache, const std::vector<Stream>& layers, const std::vector<int64_t>& sizes,
                                    double scale) {
  std::vector<std::vector<at::Tensor>> outs(layers.size());
  int64_t start = 0;
  for (int64_t size : sizes) {
    ForwardScope forward(cache, ForwardTokens::uniform(size, Modality::Text));
    for (size_t l = 0; l < layers.size(); ++l) {
      const Stream& s = layers[l];
      outs[l].push_back(cache.attend(static_cast<int>(l), s.q.narrow(0, start, size), s.k.narrow(0, start, size),
                                     s.v.narrow(0, start, size), at::Tensor(), scale));
    }
    forward.commit();
    start += size;
  }
  std::vector<at::Tensor> result;
  for (auto& o : outs) result.push_back(at::cat(o));
  return result;
}

TEST(FullCache, ChunkedPrefillAndDecodeMatchOnePassAttention) {
  at::manual_seed(11);
  const double scale = 0.35;
  const std::vector<Stream> layers = {random_stream(10, at::kFloat), random_stream(10, at::kFloat)};
  FullCache cache(2);
  // 3 + 4 prefill (the second chunk sees the first: the mask must be aligned to the end), then
  // single tokens; the buffers grow twice on the way.
  const auto outs = run_chunked(cache, layers, {3, 4, 1, 1, 1}, scale);
  EXPECT_EQ(cache.seen_tokens(), 10);
  for (size_t l = 0; l < layers.size(); ++l) {
    const auto& s = layers[l];
    // fp32 against float64: rounding of D = 8 products and a softmax over at most 10 keys.
    TRIMVL_EXPECT_CLOSE(outs[l], reference_attention(s.q, s.k, s.v, scale), 1e-5, 1e-6);
    EXPECT_TRUE(at::equal(cache.keys(static_cast<int>(l)), s.k.transpose(0, 1)));
    EXPECT_TRUE(at::equal(cache.values(static_cast<int>(l)), s.v.transpose(0, 1)));
  }
}

TEST(FullCache, Bf16FollowsTheReferenceLoosely) {
  at::manual_seed(12);
  const std::vector<Stream> layers = {random_stream(9, at::kBFloat16)};
  FullCache cache(1);
  const auto outs = run_chunked(cache, layers, {5, 2, 1, 1}, 0.35);
  EXPECT_EQ(outs[0].scalar_type(), at::kBFloat16);
  // bf16 inputs are exact in float64; the outputs carry bf16 rounding (8 bits of mantissa).
  TRIMVL_EXPECT_CLOSE(outs[0], reference_attention(layers[0].q, layers[0].k, layers[0].v, 0.35), 1e-2, 1e-2);
}

TEST(FullCache, AbortedForwardLeavesNoTrace) {
  at::manual_seed(13);
  const std::vector<Stream> layers = {random_stream(6, at::kFloat), random_stream(6, at::kFloat)};
  FullCache cache(2);
  run_chunked(cache, layers, {4}, 0.5);
  {
    // A forward that fails after layer 0 (the scope is never committed).
    ForwardScope forward(cache, ForwardTokens::uniform(2, Modality::Image));
    const Stream noise = random_stream(2, at::kFloat);
    cache.attend(0, noise.q, noise.k, noise.v, at::Tensor(), 0.5);
  }
  EXPECT_EQ(cache.seen_tokens(), 4);
  EXPECT_EQ(cache.tokens().size(), 4u);
  // Resuming gives what an uninterrupted stream gives.
  std::vector<Stream> tail;
  for (const auto& s : layers) tail.push_back({s.q.narrow(0, 4, 2), s.k.narrow(0, 4, 2), s.v.narrow(0, 4, 2)});
  const auto outs = run_chunked(cache, tail, {2}, 0.5);
  for (size_t l = 0; l < layers.size(); ++l)
    TRIMVL_EXPECT_CLOSE(outs[l], reference_attention(layers[l].q, layers[l].k, layers[l].v, 0.5).narrow(0, 4, 2),
                        1e-5, 1e-6);
}

TEST(FullCache, RecordsTokenMetadataAndResets) {
  FullCache cache(1);
  const Stream s = random_stream(3, at::kFloat);
  ForwardTokens tokens{{{.modality = Modality::Text, .token_id = 7},
                        {.modality = Modality::Image, .media = 0, .t = 0, .row = 0, .col = 0},
                        {.modality = Modality::Image, .media = 0, .t = 0, .row = 0, .col = 1}}};
  ForwardScope forward(cache, tokens);
  cache.attend(0, s.q, s.k, s.v, at::zeros({3, kKvHeads}), 1.0);  // a gate's log β is accepted
  forward.commit();
  ASSERT_EQ(cache.tokens().size(), 3u);
  EXPECT_EQ(cache.tokens()[0].token_id, 7);
  EXPECT_EQ(modality_name(cache.tokens()[1].modality), "image");
  EXPECT_EQ(cache.tokens()[2].col, 1);
  cache.reset();
  EXPECT_EQ(cache.seen_tokens(), 0);
  EXPECT_TRUE(cache.tokens().empty());
  EXPECT_FALSE(cache.keys(0).defined());
}

// Misuse is a bug in the caller: an Internal error, never a crash or a silently wrong cache.
TEST(FullCache, ContractViolationsAreInternalErrors) {
  FullCache cache(2);
  const Stream s = random_stream(2, at::kFloat);
  auto expect_internal = [](auto&& f, const std::string& fragment) {
    try {
      f();
      ADD_FAILURE() << "no error; expected '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::Internal) << e.what();
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expect_internal([&] { cache.attend(0, s.q, s.k, s.v, at::Tensor(), 1.0); }, "outside a forward");
  cache.begin_forward(ForwardTokens::uniform(2, Modality::Text));
  expect_internal([&] { cache.begin_forward(ForwardTokens::uniform(1, Modality::Text)); }, "is open");
  expect_internal([&] { cache.attend(2, s.q, s.k, s.v, at::Tensor(), 1.0); }, "layer 2 of a 2-layer cache");
  expect_internal([&] { cache.attend(0, s.q.narrow(0, 0, 1), s.k, s.v, at::Tensor(), 1.0); }, "T = 2");
  expect_internal([&] { cache.attend(0, s.q, s.k, s.v, at::zeros({2, 3}), 1.0); }, "log_beta");
  cache.attend(0, s.q, s.k, s.v, at::Tensor(), 1.0);
  expect_internal([&] { cache.attend(0, s.q, s.k, s.v, at::Tensor(), 1.0); }, "attended twice");
  expect_internal([&] { cache.end_forward(); }, "layer 1 was not attended");
  cache.abort_forward();
  EXPECT_EQ(cache.seen_tokens(), 0);
  EXPECT_THROW(FullCache(0), Error);
}

}  // namespace
}  // namespace trimvl::cache
