// The real policies (make_policy) driving the paged cache: the invariants issue 4 names — KV never
// above its bound, chronological streams, positions never rewritten, heads that empty, eviction
// across modalities in both directions — and the baselines' attention statistics reaching them.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/paged_kv_cache.h"
#include "cache/policy.h"

namespace trimvl::cache {
namespace {

constexpr int kLayers = 3, kKvHeads = 2, kHeads = 4;
constexpr int64_t kDim = 8;
constexpr double kScale = 0.35;

PagedCacheOptions options(int64_t max_forward = 0) {
  return {.num_layers = kLayers, .num_kv_heads = kKvHeads, .head_dim = kDim, .dtype = at::kFloat,
          .block_size = 4, .max_forward_tokens = max_forward};
}

// Appends `t` tokens of `modality` to every layer, with log β from `log_beta(position)` (or none),
// and checks what the cache then holds: chronological streams whose keys are the ones appended for
// their positions, within the policy's bounds.
class Stream {
 public:
  Stream(const PolicyOptions& o, int64_t max_forward = 0) : policy_(make_policy(o)), cache(options(max_forward), policy_) {}

  template <typename LogBeta>
  void forward(int64_t t, Modality modality, LogBeta log_beta) {
    const int64_t first = cache.seen_tokens();
    ForwardScope scope(cache, ForwardTokens::uniform(t, modality));
    for (int l = 0; l < kLayers; ++l) {
      const at::Tensor k = at::randn({t, kKvHeads, kDim});
      at::Tensor beta = at::empty({t, kKvHeads});
      for (int64_t i = 0; i < t; ++i)
        for (int h = 0; h < kKvHeads; ++h) beta[i][h] = log_beta(first + i, l, h);
      const at::Tensor out = cache.attend(l, at::randn({t, kHeads, kDim}), k, at::randn({t, kKvHeads, kDim}),
                                          policy_->scorer() && policy_->scorer()->needs_gates() ? beta : at::Tensor(),
                                          kScale);
      ASSERT_TRUE(at::isfinite(out).all().item<bool>());
      for (int64_t i = 0; i < t; ++i) appended_[{l, first + i}] = k[i];
    }
    scope.commit();
    check();
  }
  void forward(int64_t t, Modality modality) {
    forward(t, modality, [](int64_t, int, int) { return -0.01; });
  }

  // Retained positions per modality over all streams.
  std::map<Modality, int64_t> held() const {
    std::map<Modality, int64_t> counts;
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        const at::Tensor p = cache.positions(l, h);
        for (int64_t i = 0; i < p.numel(); ++i) ++counts[cache.tokens()[static_cast<size_t>(p[i].item<int64_t>())].modality];
      }
    return counts;
  }

  std::shared_ptr<const Policy> policy_;
  PagedKvCache cache;

 private:
  void check() {
    int64_t total = 0;
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        const at::Tensor p = cache.positions(l, h);
        const at::Tensor k = cache.keys(l, h);
        total += p.numel();
        for (int64_t i = 0; i < p.numel(); ++i) {
          const int64_t pos = p[i].item<int64_t>();
          if (i > 0) {
            ASSERT_LT(p[i - 1].item<int64_t>(), pos) << "stream (" << l << ", " << h << ") out of order";
          }
          ASSERT_TRUE(at::equal(k[i], appended_.at({l, pos}).select(0, h))) << "position " << pos << " rewritten";
        }
      }
    const Selector* s = policy_->selector();
    const auto bound = s ? s->trigger_bound(kLayers, kKvHeads) : std::nullopt;
    if (bound) {
      ASSERT_LE(total, *bound);
    }
  }

  std::map<std::pair<int, int64_t>, at::Tensor> appended_;  // (layer, position) -> [H_kv, D] keys
};

PolicyOptions policy(PolicyKind kind, int64_t m, int64_t b) {
  PolicyOptions o;
  o.kind = kind;
  o.budget = m;
  o.buffer = b;
  return o;
}

TEST(PoliciesInTheCache, EveryPolicyKeepsItsBoundOverAStream) {
  at::manual_seed(0);
  for (PolicyKind kind : {PolicyKind::TrimKV, PolicyKind::DBTrimKV, PolicyKind::StreamingLLM, PolicyKind::SnapKV,
                          PolicyKind::H2O}) {
    PolicyOptions o = policy(kind, 6, 3);
    o.window = kind == PolicyKind::SnapKV ? 2 : 0;
    o.sinks = 2;
    Stream run(o, /*max_forward=*/5);
    const int64_t pool = run.cache.pool_blocks();
    // log β varies by position, layer and head, so scores are tie-free and heads differ.
    const auto beta = [](int64_t pos, int l, int h) { return -0.001 * (1 + (pos * 7 + l * 3 + h * 5) % 23); };
    for (int step = 0; step < 12; ++step) run.forward(1 + step % 5, Modality::Text, beta);
    for (int step = 0; step < 30; ++step) run.forward(1, Modality::Generated, beta);
    EXPECT_GT(run.cache.counters().evictions, 3) << run.policy_->describe();
    EXPECT_EQ(run.cache.pool_blocks(), pool) << run.policy_->describe() << ": a bounded pool grew";
  }
}

TEST(PoliciesInTheCache, StreamingKeepsTheSinksAndTheMostRecent) {
  PolicyOptions o = policy(PolicyKind::StreamingLLM, 5, 2);
  o.sinks = 2;
  Stream run(o);
  for (int step = 0; step < 20; ++step) run.forward(1, Modality::Text);
  // Each head evicts when it reaches M + B = 7 tokens, keeping the 2 sinks and its newest M − 2;
  // what arrives afterwards joins the recent run, so a head is always sinks + one contiguous tail.
  for (int l = 0; l < kLayers; ++l)
    for (int h = 0; h < kKvHeads; ++h) {
      const at::Tensor p = run.cache.positions(l, h);
      ASSERT_GE(p.numel(), 5);
      EXPECT_EQ(p[0].item<int64_t>(), 0);
      EXPECT_EQ(p[1].item<int64_t>(), 1);
      EXPECT_EQ(p[-1].item<int64_t>(), 19);
      for (int64_t i = 2; i + 1 < p.numel(); ++i) EXPECT_EQ(p[i + 1].item<int64_t>(), p[i].item<int64_t>() + 1);
    }
}

// One global budget: low-retention image tokens go while text stays, and the reverse.
TEST(PoliciesInTheCache, GlobalBudgetEvictsAcrossModalitiesBothWays) {
  for (bool images_fade : {true, false}) {
    Stream run(policy(PolicyKind::DBTrimKV, 4, 2));
    const auto beta = [&](int64_t pos, int, int) {
      const bool image = pos >= 6 && pos < 30;
      return (image == images_fade) ? -0.5 - 0.001 * pos : -0.001 - 1e-5 * pos;
    };
    run.forward(6, Modality::Text, beta);
    run.forward(24, Modality::Image, beta);
    run.forward(6, Modality::Text, beta);
    const auto held = run.held();
    const int64_t image = held.count(Modality::Image) ? held.at(Modality::Image) : 0;
    const int64_t text = held.count(Modality::Text) ? held.at(Modality::Text) : 0;
    EXPECT_EQ(image + text, kLayers * kKvHeads * 4);
    if (images_fade) {
      EXPECT_EQ(image, 0) << "fading image tokens survived";
    } else {
      EXPECT_EQ(text, 0) << "fading text tokens survived";
    }
  }
}

// A global top-k may take every token of some heads; those heads still attend (to the new tokens).
TEST(PoliciesInTheCache, GlobalBudgetCanEmptyAHeadAndAttentionStillWorks) {
  Stream run(policy(PolicyKind::DBTrimKV, 2, 1));
  const auto beta = [](int64_t pos, int l, int h) { return (l == 0 && h == 0) ? -3.0 : -0.001 - 1e-4 * pos; };
  run.forward(10, Modality::Text, beta);
  EXPECT_EQ(run.cache.lengths()[0], 0) << "the fading head kept tokens";
  run.forward(1, Modality::Generated, beta);  // attends with an empty head 0 (the check runs inside)
  EXPECT_EQ(run.cache.seen_tokens(), 11);
}

// SnapKV and H2O rank by attention the cache measured: a key every query attends to survives.
TEST(PoliciesInTheCache, AttentionBaselinesKeepTheAttendedToken) {
  for (PolicyKind kind : {PolicyKind::SnapKV, PolicyKind::H2O}) {
    PolicyOptions o = policy(kind, 3, 1);
    o.window = 2;
    o.pool_kernel = 1;
    auto p = make_policy(o);
    PagedKvCache cache(options(), p);
    // Token 1's key is aligned with every query; the others are orthogonal noise.
    const at::Tensor hot = at::full({kDim}, 1.0);
    for (int64_t step = 0; step < 8; ++step) {
      const int64_t t = step == 0 ? 4 : 1;
      ForwardScope scope(cache, ForwardTokens::uniform(t, Modality::Text));
      for (int l = 0; l < kLayers; ++l) {
        at::Tensor k = at::zeros({t, kKvHeads, kDim});
        if (step == 0) k[1].copy_(hot.expand({kKvHeads, kDim}));
        const at::Tensor q = (hot * 4).expand({t, kHeads, kDim}).contiguous();
        cache.attend(l, q, k, at::randn({t, kKvHeads, kDim}), at::Tensor(), kScale);
      }
      scope.commit();
    }
    ASSERT_GT(cache.counters().evictions, 0);
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        const at::Tensor pos = cache.positions(l, h);
        EXPECT_TRUE((pos == 1).any().item<bool>()) << policy_name(kind) << ": the attended token was evicted";
      }
  }
}

// Multi-turn: a second turn continues the compressed stream (positions go on, nothing re-enters).
TEST(PoliciesInTheCache, ASecondTurnContinuesTheCompressedStream) {
  Stream run(policy(PolicyKind::TrimKV, 4, 2));
  const auto beta = [](int64_t pos, int, int h) { return -0.001 * (1 + (pos * 5 + h) % 11); };
  run.forward(12, Modality::Text, beta);
  for (int i = 0; i < 5; ++i) run.forward(1, Modality::Generated, beta);
  const int64_t after_first = run.cache.seen_tokens();
  run.forward(9, Modality::Text, beta);  // the next user turn
  EXPECT_EQ(run.cache.seen_tokens(), after_first + 9);
  EXPECT_EQ(run.cache.tokens().size(), static_cast<size_t>(after_first + 9));
  for (int l = 0; l < kLayers; ++l)
    for (int h = 0; h < kKvHeads; ++h) EXPECT_LE(run.cache.positions(l, h).numel(), 4 + 2 - 1);
}

}  // namespace
}  // namespace trimvl::cache
