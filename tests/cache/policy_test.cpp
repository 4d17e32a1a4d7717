// Eviction policies on hand-built candidates: scores against formulas written out here, survivors
// worked out by hand, triggers, bounds and option errors.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/policies/retention_scorer.h"
#include "cache/policies/threshold_selector.h"
#include "cache/policy.h"
#include "kernels/runtime/error.h"
#include "tests/cache/packed_streams.h"

namespace trimvl::cache {
namespace {

using Streams = test::PackedStreams;
using Positions = std::vector<int64_t>;
constexpr float kInf = std::numeric_limits<float>::infinity();

PolicyOptions options(PolicyKind kind, int64_t budget, int64_t buffer) {
  PolicyOptions o;
  o.kind = kind;
  o.budget = budget;
  o.buffer = buffer;
  return o;
}

// A stream of tokens at positions first, first + 1, ... with these log β (or attention) values.
std::vector<Streams::Token> by_log_beta(int64_t first, const std::vector<float>& log_beta) {
  std::vector<Streams::Token> out;
  for (float lb : log_beta) out.push_back({first++, lb, 0.0f});
  return out;
}
std::vector<Streams::Token> by_attention(int64_t first, const std::vector<float>& attention) {
  std::vector<Streams::Token> out;
  for (float a : attention) out.push_back({first++, 0.0f, a});
  return out;
}

float score_of(float log_beta, int64_t position, int64_t seen, int64_t lookahead) {
  return retention_score(at::tensor({log_beta}), at::tensor({position}), seen, lookahead).item<float>();
}

TEST(RetentionScore, MatchesTheReferenceExample) {
  // log β = −0.01, pos 10, seen 100: −0.01 · 91, and log(e^−0.92 + e^−0.93) with lookahead 2.
  EXPECT_NEAR(score_of(-0.01f, 10, 100, 1), -0.91, 1e-6);
  EXPECT_NEAR(score_of(-0.01f, 10, 100, 2), -0.231840, 1e-6);
}

TEST(RetentionScore, LookaheadIsTheLogOfTheSummedRetention) {
  for (float lb : {-0.5f, -0.03f, -2e-4f})
    for (int64_t n : {2, 3, 7}) {
      const int64_t seen = 57, pos = 20;
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(lb * static_cast<double>(seen + 2 - pos + k));
      EXPECT_NEAR(score_of(lb, pos, seen, n), std::log(sum), 2e-5 * std::abs(std::log(sum)) + 1e-6)
          << "log beta " << lb << ", lookahead " << n;
    }
}

TEST(RetentionScore, ZeroLogBetaIsNaNWithLookaheadAndZeroWithout) {
  EXPECT_TRUE(std::isnan(score_of(0.0f, 3, 10, 2)));
  EXPECT_EQ(score_of(0.0f, 3, 10, 1), 0.0f);
}

TEST(TrimKVPolicy, KeepsEachFullHeadsTopMAndLeavesShortHeads) {
  const auto policy = make_policy(options(PolicyKind::TrimKV, 2, 2));
  Streams s(1, 2);
  s.log_beta_dtype = at::kFloat;
  s.seen = 4;
  // Scores log β · (5 − pos): −0.5, −0.004, −1.0, −0.02.
  s.streams[0] = by_log_beta(0, {-0.1f, -0.001f, -0.5f, -0.01f});
  s.streams[1] = by_log_beta(1, {-0.9f, -0.9f, -0.9f});  // 3 < M + B: untouched
  ASSERT_TRUE(s.evict(*policy, 1));
  EXPECT_EQ(s.positions(0), (Positions{1, 3}));
  EXPECT_EQ(s.positions(1), (Positions{1, 2, 3}));
  EXPECT_FALSE(s.evict(*policy, 1));  // 2 and 3 tokens: nobody is due
}

TEST(TrimKVPolicy, WindowKeepsTheLastTokens) {
  PolicyOptions o = options(PolicyKind::TrimKV, 2, 2);
  Streams plain(1, 1), windowed(1, 1);
  for (Streams* s : {&plain, &windowed}) {
    s->seen = 4;
    s->streams[0] = by_log_beta(0, {-0.001f, -0.002f, -0.5f, -0.9f});
  }
  plain.evict(*make_policy(o), 1);
  o.window = 1;
  windowed.evict(*make_policy(o), 1);
  EXPECT_EQ(plain.positions(0), (Positions{0, 1}));
  EXPECT_EQ(windowed.positions(0), (Positions{0, 3}));
}

TEST(PolicyRanking, NaNOutranksForcedKeeps) {
  // lookahead 2 and log β = 0 give NaN, which torch.topk ranks above the window's +inf.
  PolicyOptions o = options(PolicyKind::TrimKV, 1, 1);
  o.lookahead = 2;
  o.window = 1;
  Streams s(1, 1);
  s.seen = 2;
  s.streams[0] = by_log_beta(0, {0.0f, -0.1f});
  s.evict(*make_policy(o), 1);
  EXPECT_EQ(s.positions(0), (Positions{0}));
}

TEST(PolicyRanking, TiesGoToTheNewerToken) {
  const auto policy = make_policy(options(PolicyKind::H2O, 2, 2));
  Streams s(1, 1);
  s.seen = 4;
  s.streams[0] = by_attention(0, {0.5f, 0.5f, 0.5f, 0.1f});  // the last is kept regardless
  s.evict(*policy, 1);
  EXPECT_EQ(s.positions(0), (Positions{2, 3}));
}

TEST(H2OPolicy, KeepsHeavyHittersAndTheRecentWindow) {
  PolicyOptions o = options(PolicyKind::H2O, 3, 1);
  o.window = 2;
  const auto policy = make_policy(o);
  EXPECT_EQ(policy->scorer()->needs().window, 2);
  EXPECT_TRUE(policy->scorer()->needs().accumulate);
  Streams s(2, 1);
  s.seen = 6;
  s.streams[0] = by_attention(0, {0.1f, 3.0f, 0.2f, 0.05f, 0.0f, 0.0f});
  s.streams[1] = by_attention(2, {1.0f, 2.0f});
  s.evict(*policy, 1);
  EXPECT_EQ(s.positions(0), (Positions{1, 4, 5}));
  EXPECT_EQ(s.positions(1), (Positions{2, 3}));
}

TEST(StreamingPolicy, KeepsSinksAndTheMostRecent) {
  PolicyOptions o = options(PolicyKind::StreamingLLM, 5, 2);
  o.sinks = 2;
  const auto policy = make_policy(o);
  EXPECT_FALSE(policy->scorer()->needs_gates());
  Streams s(1, 2);
  s.seen = 8;
  s.streams[0] = by_log_beta(0, std::vector<float>(8, -0.1f));  // log β is ignored
  ASSERT_TRUE(s.evict(*policy, 1));
  EXPECT_EQ(s.positions(0), (Positions{0, 1, 5, 6, 7}));
  EXPECT_TRUE(s.positions(1).empty());
}

TEST(SnapKVPolicy, MaxPoolsInsideEachStreamAndKeepsTheWindow) {
  PolicyOptions o = options(PolicyKind::SnapKV, 2, 1);
  o.window = 1;
  o.pool_kernel = 5;
  const auto policy = make_policy(o);
  Streams s(1, 2);
  s.seen = 6;
  s.streams[0] = by_attention(0, {0.1f, 0.9f, 0.2f, 0.05f, 0.3f, 0.7f});
  // Two packed slots after stream 0's 0.3: pooling must not reach across the boundary.
  s.streams[1] = by_attention(3, {5.0f, 0.0f, 0.0f});
  const at::Tensor scores = policy->scorer()->score(s.pack());
  const at::Tensor expected = at::tensor({0.9f, 0.9f, 0.9f, 0.9f, 0.3f, kInf, 5.0f, 5.0f, kInf});
  EXPECT_TRUE(at::equal(scores, expected)) << scores;
}

TEST(SnapKVPolicy, DefaultsToAWindowOf32) {
  const auto policy = make_policy(options(PolicyKind::SnapKV, 64, 8));
  EXPECT_EQ(policy->options().window, 32);
  EXPECT_EQ(policy->scorer()->needs().window, 32);
  EXPECT_FALSE(policy->scorer()->needs().accumulate);
  EXPECT_EQ(policy->describe(), "snapkv M=64 B=8 window=32 kernel=7");
}

TEST(DBTrimKVPolicy, GlobalTopKMayEmptyAHead) {
  const auto policy = make_policy(options(PolicyKind::DBTrimKV, 2, 1));
  Streams s(2, 1);
  s.seen = 5;
  s.streams[0] = by_log_beta(0, {-0.001f, -0.002f, -0.003f, -0.004f});
  s.streams[1] = by_log_beta(3, {-0.5f});
  EXPECT_FALSE(s.evict(*policy, 1));  // 5 < L·H·(M + B) = 6
  s.streams[1] = by_log_beta(3, {-0.5f, -0.6f});
  ASSERT_TRUE(s.evict(*policy, 1));
  EXPECT_EQ(s.positions(0), (Positions{0, 1, 2, 3}));
  EXPECT_TRUE(s.positions(1).empty());
}

TEST(DBTrimKVPolicy, FloorGivesEveryHeadItsMinimum) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 3, 1);
  o.min_per_head = 1;
  Streams s(1, 2);
  s.seen = 6;
  // Scores log β · (7 − pos): stream 0 −0.007, −1.2, −0.0055, −0.0048, −0.0039, −0.0028;
  // stream 1 −0.3, −0.8.
  s.streams[0] = by_log_beta(0, {-0.001f, -0.2f, -0.0011f, -0.0012f, -0.0013f, -0.0014f});
  s.streams[1] = by_log_beta(4, {-0.1f, -0.4f});
  // The global top 2·(3 − 1) = 4 all lie in stream 0: it may keep 4 + 1, stream 1 its floor of 1
  // (without the floor it would empty).
  ASSERT_TRUE(s.evict(*make_policy(o), 1));
  EXPECT_EQ(s.positions(0), (Positions{0, 2, 3, 4, 5}));
  EXPECT_EQ(s.positions(1), (Positions{4}));
}

TEST(DBTrimKVPolicy, ThresholdKeepsScoresAtLeastLogAlpha) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 4, 4);
  o.strategy = BudgetStrategy::Threshold;
  o.alpha = 0.5;
  const auto policy = make_policy(o);
  const float log_alpha = std::log(0.5f);
  EXPECT_EQ(dynamic_cast<const ThresholdSelector&>(*policy->selector()).log_alpha(), log_alpha);
  Streams s(1, 2);
  s.log_beta_dtype = at::kFloat;
  s.seen = 7;
  EXPECT_FALSE(s.evict(*policy, 1));  // only when seen is a multiple of B
  s.seen = 8;
  // Ages seen + 1 − pos = 1 for position 8 scores log β itself: exactly log α stays.
  s.streams[0] = by_log_beta(6, {-0.3f, -0.2f, log_alpha});
  s.streams[1] = by_log_beta(7, {-0.01f, std::nextafter(log_alpha, -1.0f)});
  ASSERT_TRUE(s.evict(*policy, 1));
  EXPECT_EQ(s.positions(0), (Positions{7, 8}));  // −0.9 and −0.4 go
  EXPECT_EQ(s.positions(1), (Positions{7}));
}

TEST(DBTrimKVPolicy, ThresholdWithLookaheadDropsNaN) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 4, 1);
  o.strategy = BudgetStrategy::Threshold;
  o.lookahead = 2;
  Streams s(1, 1);
  s.seen = 3;
  s.streams[0] = by_log_beta(0, {0.0f, -1e-4f, -0.9f});
  s.evict(*make_policy(o), 1);
  EXPECT_EQ(s.positions(0), (Positions{1}));
}

TEST(DBTrimKVPolicy, ThresholdFloorKeepsEachHeadsTopCount) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 4, 2);
  o.strategy = BudgetStrategy::Threshold;
  o.alpha = 0.9;
  o.min_per_head = 2;
  Streams s(1, 3);
  s.seen = 4;
  s.streams[0] = by_log_beta(0, {-0.5f, -0.9f, -0.4f, -0.6f});     // nobody passes: top 2
  s.streams[1] = by_log_beta(0, {-1e-4f, -2e-4f, -3e-4f, -0.9f});  // 3 pass
  s.streams[2] = by_log_beta(3, {-0.7f});                          // shorter than the floor
  s.evict(*make_policy(o), 1);
  EXPECT_EQ(s.positions(0), (Positions{2, 3}));
  EXPECT_EQ(s.positions(1), (Positions{0, 1, 2}));
  EXPECT_EQ(s.positions(2), (Positions{3}));
}

TEST(DBTrimKVPolicy, EmptyCandidatesSelectNothing) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 4, 2);
  o.strategy = BudgetStrategy::Threshold;
  o.min_per_head = 1;
  const auto policy = make_policy(o);
  Candidates none;
  none.num_layers = none.num_kv_heads = 2;
  none.seen = 8;
  none.lengths = {0, 0, 0, 0};
  EXPECT_EQ(policy->selector()->select(none, policy->scorer()->score(none)).numel(), 0);
}

TEST(Policy, RetentionScorersNeedGates) {
  for (PolicyKind kind : {PolicyKind::TrimKV, PolicyKind::DBTrimKV}) {
    const auto policy = make_policy(options(kind, 4, 1));
    EXPECT_TRUE(policy->scorer()->needs_gates());
    Streams s(1, 1);
    s.streams[0] = by_log_beta(0, {-0.1f});
    Candidates c = s.pack();
    c.log_beta = at::Tensor();
    EXPECT_THROW(policy->scorer()->score(c), Error) << policy_name(kind);
  }
  for (PolicyKind kind : {PolicyKind::StreamingLLM, PolicyKind::SnapKV, PolicyKind::H2O})
    EXPECT_FALSE(make_policy(options(kind, 8, 1))->scorer()->needs_gates()) << policy_name(kind);
}

TEST(Policy, BoundsSizeThePool) {
  for (PolicyKind kind : {PolicyKind::TrimKV, PolicyKind::StreamingLLM, PolicyKind::SnapKV, PolicyKind::H2O}) {
    const auto policy = make_policy(options(kind, 8, 5));
    EXPECT_EQ(policy->selector()->retained_bound(2, 3), 2 * 3 * 8) << policy_name(kind);
    EXPECT_EQ(policy->selector()->trigger_bound(2, 3), 2 * 3 * (8 + 5 - 1)) << policy_name(kind);
  }
  PolicyOptions o = options(PolicyKind::DBTrimKV, 8, 5);
  EXPECT_EQ(make_policy(o)->selector()->retained_bound(2, 3), 2 * 3 * 8);
  EXPECT_EQ(make_policy(o)->selector()->trigger_bound(2, 3), 2 * 3 * (8 + 5) - 1);
  o.strategy = BudgetStrategy::Threshold;
  EXPECT_EQ(make_policy(o)->selector()->retained_bound(2, 3), std::nullopt);
  EXPECT_EQ(make_policy(o)->selector()->trigger_bound(2, 3), std::nullopt);
  const auto full = make_policy(PolicyOptions{});
  EXPECT_FALSE(full->evicts());
  EXPECT_EQ(full->selector(), nullptr);
}

TEST(Policy, TriggersFollowTheReference) {
  const std::vector<int64_t> one_full = {3, 4, 1}, none_full = {3, 3, 3};
  const auto trimkv = make_policy(options(PolicyKind::TrimKV, 2, 2));  // a stream at M + B = 4
  EXPECT_TRUE(trimkv->selector()->due({1, 3, 10, 1, &one_full}));
  EXPECT_FALSE(trimkv->selector()->due({1, 3, 10, 1, &none_full}));
  const auto dbtrimkv = make_policy(options(PolicyKind::DBTrimKV, 2, 1));  // a total of 3·(2 + 1) = 9
  const std::vector<int64_t> nine = {3, 4, 2}, eight = {3, 4, 1};
  EXPECT_TRUE(dbtrimkv->selector()->due({1, 3, 10, 1, &nine}));
  EXPECT_FALSE(dbtrimkv->selector()->due({1, 3, 10, 1, &eight}));
}

TEST(PolicyOptions, InvalidValuesNameTheFlag) {
  const auto expect_error = [](PolicyOptions o, const std::string& flag) {
    try {
      make_policy(o);
      ADD_FAILURE() << "no error for " << flag;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  };
  expect_error(options(PolicyKind::TrimKV, 0, 4), "--kv-budget");
  expect_error(options(PolicyKind::TrimKV, 4, 0), "--kv-buffer");
  PolicyOptions o = options(PolicyKind::DBTrimKV, 4, 4);
  o.alpha = 1.0;
  expect_error(o, "--kv-alpha");
  o = options(PolicyKind::DBTrimKV, 4, 4);
  o.min_per_head = 4;
  expect_error(o, "--kv-min-per-head");
  o = options(PolicyKind::TrimKV, 4, 4);
  o.lookahead = 0;
  expect_error(o, "--kv-lookahead");
  o = options(PolicyKind::StreamingLLM, 4, 4);
  o.sinks = 4;
  expect_error(o, "--kv-sinks");
  o = options(PolicyKind::SnapKV, 4, 4);
  o.pool_kernel = 4;
  expect_error(o, "pooling width");
}

// The threshold strategy keeps what scores ≥ log α, whatever the count: it takes no budget.
TEST(PolicyOptions, ThresholdNeedsNoBudget) {
  PolicyOptions o = options(PolicyKind::DBTrimKV, 0, 16);
  EXPECT_TRUE(o.needs_budget());
  o.strategy = BudgetStrategy::Threshold;
  o.alpha = 0.5;
  EXPECT_FALSE(o.needs_budget());
  const auto policy = make_policy(o);
  EXPECT_EQ(policy->describe(), "dbtrimkv threshold B=16 alpha=0.5");
  EXPECT_FALSE(policy->selector()->retained_bound(2, 2).has_value());
}

}  // namespace
}  // namespace trimvl::cache
