// PagedKvCache against attention written out per head in float64 over exactly what the cache says
// it holds, and against FullCache when nothing is evicted. The policies here are test-local (the
// real ones live in cache/policies and are tested there): keep-newest per head with a per-layer
// trigger, a global top-K that can empty a head, and a threshold whose survivor count depends on
// the data. Each step checks the storage invariants: bounds, chronological order, positions and
// K/V never rewritten, blocks conserved.
#include <algorithm>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <ostream>
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "cache/full_cache.h"
#include "cache/paged_kv_cache.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"

namespace trimvl::cache {
namespace {

constexpr int kLayers = 2, kKvHeads = 2, kHeads = 4, kStreams = kLayers * kKvHeads;
constexpr int64_t kDim = 8, kBlock = 4;
constexpr double kScale = 0.4;

int64_t total(const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// ---- test policies --------------------------------------------------------------------------

using CandidateLog = std::vector<Candidates>;

// Newest first, or a fixed pseudo-random value per (stream, position); one stream can be starved
// (scored far below everything) so that a global selection empties it.
class TestScorer final : public Scorer {
 public:
  enum class Kind { Newest, Hash };
  TestScorer(Kind kind, std::shared_ptr<CandidateLog> log = nullptr, AttentionNeeds needs = {}, bool gates = false,
             int starved = -1)
      : kind_(kind), log_(std::move(log)), needs_(needs), gates_(gates), starved_(starved) {}

  at::Tensor score(const Candidates& c) const override {
    if (log_) log_->push_back(c);
    if (kind_ == Kind::Newest) return c.position.to(at::kFloat);
    const at::Tensor x = c.position.to(at::kDouble) * 12.9898 + c.stream.to(at::kDouble) * 78.233;
    at::Tensor s = at::frac(at::sin(x).abs() * 43758.5453);
    if (starved_ >= 0) s = s - (c.stream == starved_).to(at::kDouble) * 10.0;
    return s.to(at::kFloat);
  }
  AttentionNeeds needs() const override { return needs_; }
  bool needs_gates() const override { return gates_; }

 private:
  Kind kind_;
  std::shared_ptr<CandidateLog> log_;
  AttentionNeeds needs_;
  bool gates_;
  int starved_;
};

// TrimKV's shape: once any stream of a layer holds M + B tokens, every stream of that layer keeps
// its top M.
class PerHeadTop final : public Selector {
 public:
  PerHeadTop(int64_t m, int64_t b) : m_(m), b_(b) {}
  bool due(const CacheState& s) const override {
    return *std::max_element(s.lengths->begin(), s.lengths->end()) >= m_ + b_;
  }
  at::Tensor select(const Candidates& c, const at::Tensor& scores) const override {
    at::Tensor keep = at::zeros({c.size()}, at::kBool);
    int64_t start = 0;
    for (int l = 0; l < c.num_layers; ++l) {
      const auto first = c.lengths.begin() + int64_t{l} * c.num_kv_heads;
      const bool full = *std::max_element(first, first + c.num_kv_heads) >= m_ + b_;
      for (int h = 0; h < c.num_kv_heads; ++h) {
        const int64_t len = c.lengths[static_cast<size_t>(l * c.num_kv_heads + h)];
        at::Tensor k = keep.narrow(0, start, len);
        if (!full) k.fill_(true);
        else k.index_fill_(0, std::get<1>(scores.narrow(0, start, len).topk(std::min(m_, len))), true);
        start += len;
      }
    }
    return keep;
  }
  std::optional<int64_t> retained_bound(int l, int h) const override { return int64_t{l} * h * (m_ + b_ - 1); }
  std::optional<int64_t> trigger_bound(int l, int h) const override { return int64_t{l} * h * (m_ + b_ - 1); }

 private:
  int64_t m_, b_;
};

// DBTrimKV's shape: one budget of L·H·M tokens over all streams, evicting at L·H·(M + B).
class GlobalTop final : public Selector {
 public:
  GlobalTop(int64_t m, int64_t b) : m_(m), b_(b) {}
  bool due(const CacheState& s) const override { return s.total() >= streams(s.num_layers, s.num_kv_heads) * (m_ + b_); }
  at::Tensor select(const Candidates& c, const at::Tensor& scores) const override {
    const int64_t k = std::min(streams(c.num_layers, c.num_kv_heads) * m_, c.size());
    return at::zeros({c.size()}, at::kBool).index_fill_(0, std::get<1>(scores.topk(k)), true);
  }
  std::optional<int64_t> retained_bound(int l, int h) const override { return streams(l, h) * m_; }
  std::optional<int64_t> trigger_bound(int l, int h) const override { return streams(l, h) * (m_ + b_) - 1; }

 private:
  static int64_t streams(int l, int h) { return int64_t{l} * h; }
  int64_t m_, b_;
};

// Keeps what scores at least `threshold`, after every forward: survivor counts are data-dependent
// and unbounded.
class Threshold final : public Selector {
 public:
  explicit Threshold(float threshold) : threshold_(threshold) {}
  bool due(const CacheState&) const override { return true; }
  at::Tensor select(const Candidates&, const at::Tensor& scores) const override { return scores >= threshold_; }
  std::optional<int64_t> retained_bound(int, int) const override { return std::nullopt; }
  std::optional<int64_t> trigger_bound(int, int) const override { return std::nullopt; }

 private:
  float threshold_;
};

std::shared_ptr<const Policy> make(PolicyKind kind, std::unique_ptr<Scorer> scorer, std::unique_ptr<Selector> selector) {
  PolicyOptions options;
  options.kind = kind;
  options.budget = 4;
  return std::make_shared<const Policy>(options, std::move(scorer), std::move(selector));
}

std::shared_ptr<const Policy> full_policy() { return make(PolicyKind::Full, nullptr, nullptr); }

PagedCacheOptions options(at::ScalarType dtype, int64_t max_forward = 0) {
  return {.num_layers = kLayers, .num_kv_heads = kKvHeads, .head_dim = kDim, .dtype = dtype,
          .block_size = kBlock, .max_forward_tokens = max_forward};
}

// ---- references -----------------------------------------------------------------------------

// One forward's inputs, per layer.
struct Step {
  std::vector<at::Tensor> q, k, v, log_beta;
  int64_t size() const { return q.front().size(0); }
};

Step random_step(int64_t t, at::ScalarType dtype, bool gates) {
  Step s;
  for (int l = 0; l < kLayers; ++l) {
    s.q.push_back(at::randn({t, kHeads, kDim}).to(dtype));
    s.k.push_back(at::randn({t, kKvHeads, kDim}).to(dtype));
    s.v.push_back(at::randn({t, kKvHeads, kDim}).to(dtype));
    s.log_beta.push_back(gates ? (at::rand({t, kKvHeads}) * -0.1).to(dtype) : at::Tensor());
  }
  return s;
}

// softmax(q·kᵀ·scale)·v in float64, query head h over kv head h / G: the kept tokens of that kv
// head (kept_k[h]: [len, D]) then the new ones, causal among the new ones. [T, H_q, D].
at::Tensor naive_attention(const at::Tensor& q, const std::vector<at::Tensor>& kept_k,
                           const std::vector<at::Tensor>& kept_v, const at::Tensor& k, const at::Tensor& v) {
  const int64_t t = q.size(0), group = q.size(1) / k.size(1);
  at::Tensor out = at::zeros(q.sizes(), at::kDouble);
  for (int64_t qh = 0; qh < q.size(1); ++qh) {
    const int64_t h = qh / group, kept = kept_k[static_cast<size_t>(h)].size(0);
    const at::Tensor keys = at::cat({kept_k[static_cast<size_t>(h)], k.select(1, h)}).to(at::kDouble);
    const at::Tensor values = at::cat({kept_v[static_cast<size_t>(h)], v.select(1, h)}).to(at::kDouble);
    at::Tensor scores = at::matmul(q.select(1, qh).to(at::kDouble), keys.t()) * kScale;  // [T, kept + T]
    const at::Tensor hidden = at::arange(kept + t).view({1, -1}) > (at::arange(t) + kept).view({-1, 1});
    scores = scores.masked_fill(hidden, -std::numeric_limits<double>::infinity());
    out.select(1, qh).copy_(at::matmul(at::softmax(scores, 1), values));
  }
  return out;
}

// Softmax weights (float64) of query head qh's query `q` ([D]) over `keys` ([n, D]).
at::Tensor weights(const at::Tensor& q, const at::Tensor& keys) {
  return at::softmax(at::matmul(keys.to(at::kDouble), q.to(at::kDouble)) * kScale, 0);
}

// Drives a cache forward by forward, checking every attend against naive_attention over what the
// cache reported holding before the forward, and the storage invariants after it.
class Driver {
 public:
  Driver(const PagedCacheOptions& o, std::shared_ptr<const Policy> policy, double rtol, double atol)
      : cache(o, std::move(policy)), dtype_(o.dtype), rtol_(rtol), atol_(atol),
        history_k(kLayers), history_v(kLayers), history_beta(kLayers), history_q(kLayers) {}

  Step next(int64_t t, bool gates = false) const { return random_step(t, dtype_, gates); }

  std::vector<at::Tensor> run(const Step& s, Modality modality = Modality::Text) {
    const int64_t t = s.size();
    std::vector<std::vector<at::Tensor>> kept_k(kLayers), kept_v(kLayers);
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        kept_k[static_cast<size_t>(l)].push_back(cache.keys(l, h));
        kept_v[static_cast<size_t>(l)].push_back(cache.values(l, h));
      }
    const int64_t before = total(cache.lengths());
    std::vector<at::Tensor> outs;
    ForwardScope forward(cache, ForwardTokens::uniform(t, modality));
    for (int l = 0; l < kLayers; ++l) {
      const size_t i = static_cast<size_t>(l);
      outs.push_back(cache.attend(l, s.q[i], s.k[i], s.v[i], s.log_beta[i], kScale));
      EXPECT_EQ(outs.back().scalar_type(), dtype_);
      EXPECT_TRUE(test::all_close(outs.back(), naive_attention(s.q[i], kept_k[i], kept_v[i], s.k[i], s.v[i]), rtol_,
                                  atol_, "attention of layer " + std::to_string(l)));
    }
    // The cache knows before committing whether the commit evicts (the bench times evictions by it).
    const bool evicts = cache.evicts_at_end_forward();
    const int64_t evictions = cache.counters().evictions;
    forward.commit();
    EXPECT_EQ(cache.counters().evictions, evictions + (evicts ? 1 : 0));
    peak_ = std::max(peak_, before + kStreams * t);
    for (int l = 0; l < kLayers; ++l) {
      const size_t i = static_cast<size_t>(l);
      auto append = [&](at::Tensor& h, const at::Tensor& x) { h = h.defined() ? at::cat({h, x}) : x; };
      append(history_k[i], s.k[i]);
      append(history_v[i], s.v[i]);
      append(history_q[i], s.q[i]);
      if (s.log_beta[i].defined()) append(history_beta[i], s.log_beta[i]);
    }
    check_invariants();
    return outs;
  }

  // Chronological, never rewritten, every block accounted for.
  void check_invariants() {
    const int64_t seen = cache.seen_tokens();
    int64_t used = 0;
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        const size_t i = static_cast<size_t>(l);
        const at::Tensor pos = cache.positions(l, h);
        const int64_t len = pos.size(0);
        ASSERT_EQ(len, cache.lengths()[static_cast<size_t>(l * kKvHeads + h)]);
        used += ceil_div(len, kBlock);
        if (len == 0) continue;
        EXPECT_TRUE((pos.narrow(0, 1, len - 1) > pos.narrow(0, 0, len - 1)).all().item<bool>())
            << "stream " << l << "/" << h << " out of order: " << pos;
        EXPECT_LT(pos[-1].item<int64_t>(), seen);
        EXPECT_TRUE(at::equal(cache.keys(l, h), history_k[i].index_select(0, pos).select(1, h)));
        EXPECT_TRUE(at::equal(cache.values(l, h), history_v[i].index_select(0, pos).select(1, h)));
        const at::Tensor beta = cache.log_beta(l, h);
        EXPECT_EQ(beta.defined(), history_beta[i].defined());
        if (beta.defined()) {
          EXPECT_TRUE(at::equal(beta, history_beta[i].index_select(0, pos).select(1, h)));
        }
      }
    EXPECT_EQ(cache.free_blocks() + used, cache.pool_blocks());
    EXPECT_EQ(cache.counters().peak_cached_tokens, peak_);
    EXPECT_EQ(cache.counters().cached_tokens, total(cache.lengths()));
    EXPECT_EQ(static_cast<int64_t>(cache.tokens().size()), seen);
  }

  PagedKvCache cache;

 private:
  at::ScalarType dtype_;
  double rtol_, atol_;
  int64_t peak_ = 0;

 public:
  std::vector<at::Tensor> history_k, history_v, history_beta, history_q;  // per layer [seen, H, D]
};

// ---- tests ----------------------------------------------------------------------------------

TEST(PagedKvCache, FullPolicyMatchesFullCache) {
  at::manual_seed(1);
  Driver paged(options(at::kFloat), full_policy(), 1e-5, 1e-6);
  FullCache full(kLayers);
  const int64_t initial = paged.cache.pool_blocks();
  for (int64_t t : {7, 5, 1, 1, 9, 1, 16, 1, 3}) {
    const Step s = paged.next(t);
    const auto outs = paged.run(s);
    ForwardScope forward(full, ForwardTokens::uniform(t, Modality::Text));
    for (int l = 0; l < kLayers; ++l) {
      const size_t i = static_cast<size_t>(l);
      const at::Tensor expected = full.attend(l, s.q[i], s.k[i], s.v[i], at::Tensor(), kScale);
      EXPECT_TRUE(test::all_close(outs[i], expected, 0, 1e-6, "paged vs full, layer " + std::to_string(l)));
    }
    forward.commit();
  }
  for (int l = 0; l < kLayers; ++l)
    for (int h = 0; h < kKvHeads; ++h) EXPECT_TRUE(at::equal(paged.cache.keys(l, h), full.keys(l).select(0, h)));
  EXPECT_EQ(paged.cache.counters().evictions, 0);
  // Unbounded: the pool grew (by at least doubling each time) to hold all 44 tokens of 4 streams.
  EXPECT_GT(paged.cache.pool_blocks(), initial);
  EXPECT_GE(paged.cache.pool_blocks(), kStreams * ceil_div(44, kBlock));
}

enum class Selection { PerHead, Global, Threshold };

struct InvariantCase {
  at::ScalarType dtype;
  Selection selection;
};

class PagedKvCacheInvariants : public ::testing::TestWithParam<InvariantCase> {};

void PrintTo(const InvariantCase& c, std::ostream* os) {
  *os << c10::toString(c.dtype) << " selection " << static_cast<int>(c.selection);
}

std::string case_name(const ::testing::TestParamInfo<InvariantCase>& info) {
  static constexpr const char* kNames[] = {"PerHead", "Global", "Threshold"};
  return std::string(info.param.dtype == at::kFloat ? "Fp32" : "Bf16") + kNames[static_cast<int>(info.param.selection)];
}

// Many random forwards (a prefill, decode steps, short chunks) under each kind of selection.
TEST_P(PagedKvCacheInvariants, HoldOverRandomSteps) {
  const auto [dtype, selection] = GetParam();
  at::manual_seed(2);
  constexpr int64_t m = 5, b = 3;
  std::unique_ptr<Selector> selector;
  std::unique_ptr<Scorer> scorer = std::make_unique<TestScorer>(TestScorer::Kind::Hash, nullptr, AttentionNeeds{},
                                                                false, /*starved=*/1);
  switch (selection) {
    case Selection::PerHead:
      selector = std::make_unique<PerHeadTop>(m, b);
      scorer = std::make_unique<TestScorer>(TestScorer::Kind::Newest);
      break;
    case Selection::Global: selector = std::make_unique<GlobalTop>(m, b); break;
    case Selection::Threshold: selector = std::make_unique<Threshold>(0.4f); break;
  }
  const std::optional<int64_t> bound = selector->trigger_bound(kLayers, kKvHeads);
  const std::optional<int64_t> retained = selector->retained_bound(kLayers, kKvHeads);
  const bool fp32 = dtype == at::kFloat;
  // bf16: the inputs are exact in float64; the output carries bf16 rounding.
  Driver d(options(dtype), make(PolicyKind::TrimKV, std::move(scorer), std::move(selector)), fp32 ? 1e-5 : 2e-2,
           fp32 ? 1e-5 : 2e-2);
  const std::vector<int64_t> sizes = {1, 1, 1, 2, 6};
  bool emptied = false;
  for (int step = 0; step < 80; ++step) {
    const int64_t t = step == 0 ? 9 : sizes[static_cast<size_t>(at::randint(5, {1}).item<int64_t>())];
    const int64_t evictions = d.cache.counters().evictions;
    d.run(d.next(t, /*gates=*/true));
    const int64_t held = total(d.cache.lengths());
    if (bound) {
      EXPECT_LE(held, *bound);
    }
    if (retained && d.cache.counters().evictions > evictions) {
      EXPECT_LE(held, *retained);
    }
    emptied |= std::count(d.cache.lengths().begin(), d.cache.lengths().end(), 0) > 0;
    if (selection == Selection::PerHead) {  // every stream between forwards: below M + B
      for (int64_t len : d.cache.lengths()) EXPECT_LT(len, m + b);
    }
  }
  EXPECT_GT(d.cache.counters().evictions, 0);
  if (bound) {
    EXPECT_LE(d.cache.counters().peak_cached_tokens, *bound + kStreams * 9);
  }
  // Only a selection across streams empties one (the starved stream).
  EXPECT_EQ(emptied, selection != Selection::PerHead);
  EXPECT_EQ(d.cache.counters().forwards, 80);
}

INSTANTIATE_TEST_SUITE_P(
    Selections, PagedKvCacheInvariants,
    ::testing::Values(InvariantCase{at::kFloat, Selection::PerHead}, InvariantCase{at::kFloat, Selection::Global},
                      InvariantCase{at::kFloat, Selection::Threshold}, InvariantCase{at::kBFloat16, Selection::PerHead},
                      InvariantCase{at::kBFloat16, Selection::Global},
                      InvariantCase{at::kBFloat16, Selection::Threshold}),
    case_name);

TEST(PagedKvCache, EmptyStreamAttendsOnlyToTheNewTokens) {
  at::manual_seed(3);
  Driver d(options(at::kFloat), make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, nullptr,
                                                                                       AttentionNeeds{}, false, 1),
                                     std::make_unique<GlobalTop>(2, 1)),
           1e-5, 1e-5);
  d.run(d.next(12));  // 48 ≥ 4·(2 + 1): the first forward evicts down to 8, none from stream 1
  ASSERT_EQ(d.cache.lengths()[1], 0);
  EXPECT_EQ(d.cache.positions(0, 1).numel(), 0);
  EXPECT_EQ(d.cache.keys(0, 1).size(0), 0);
  const Step s = d.next(3);
  const auto outs = d.run(s);  // checked against attention over the other heads' tokens as well
  // Query heads 2 and 3 read kv head 1: plain causal attention over the 3 new tokens.
  const at::Tensor alone = naive_attention(s.q[0], {at::empty({0, kDim}), at::empty({0, kDim})},
                                           {at::empty({0, kDim}), at::empty({0, kDim})}, s.k[0], s.v[0]);
  TRIMVL_EXPECT_CLOSE(outs[0].narrow(1, 2, 2), alone.narrow(1, 2, 2), 1e-5, 1e-6);
}

TEST(PagedKvCache, ContinuesStreamPositionsAfterEvictions) {
  at::manual_seed(4);
  Driver d(options(at::kFloat), make(PolicyKind::TrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Newest),
                                     std::make_unique<PerHeadTop>(3, 2)),
           1e-5, 1e-5);
  for (int64_t t : {6, 1, 1, 4, 1, 7}) {
    d.run(d.next(t));
    // Keep-newest: each stream holds the last len positions, ending at the newest token.
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h) {
        const at::Tensor pos = d.cache.positions(l, h);
        const int64_t seen = d.cache.seen_tokens();
        EXPECT_TRUE(at::equal(pos, at::arange(seen - pos.size(0), seen)));
      }
  }
  EXPECT_EQ(d.cache.seen_tokens(), 20);
  EXPECT_GT(d.cache.counters().evictions, 0);
}

TEST(PagedKvCache, BoundedPoolNeverGrowsInStreamingMode) {
  at::manual_seed(5);
  constexpr int64_t m = 6, b = 3, chunk = 4;
  const auto per_head = [=] {
    return make(PolicyKind::TrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Newest),
                std::make_unique<PerHeadTop>(m, b));
  };
  const auto global = [=] {
    return make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, nullptr, AttentionNeeds{}, false, 2),
                std::make_unique<GlobalTop>(m, b));
  };
  for (const std::shared_ptr<const Policy>& policy : {per_head(), global()}) {
    Driver d(options(at::kBFloat16, chunk), policy, 2e-2, 2e-2);
    // Sized once: the trigger bound plus one forward in every stream, plus a partial block each.
    const int64_t bound = *policy->selector()->trigger_bound(kLayers, kKvHeads);
    const int64_t sized = ceil_div(bound + kStreams * chunk, kBlock) + kStreams;
    EXPECT_EQ(d.cache.pool_blocks(), sized);
    for (int step = 0; step < 50; ++step) {
      d.run(d.next(1 + at::randint(chunk, {1}).item<int64_t>()));
      ASSERT_EQ(d.cache.pool_blocks(), sized) << policy->describe() << ", step " << step;
    }
    EXPECT_GT(d.cache.counters().evictions, 3) << policy->describe();
  }
}

// A budget beyond what a stream can ever see means no eviction: the context, not the budget, sizes
// the pool.
TEST(PagedKvCache, BudgetBeyondTheContextSizesThePoolByTheContext) {
  constexpr int64_t context = 40, chunk = 8;
  auto o = options(at::kFloat, chunk);
  o.max_stream_tokens = context;
  const auto policy = make(PolicyKind::TrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Newest),
                           std::make_unique<PerHeadTop>(1'000'000, 128));
  Driver d(o, policy, 1e-5, 1e-5);
  EXPECT_EQ(d.cache.pool_blocks(), ceil_div(kStreams * context, kBlock) + kStreams);
  for (int64_t seen = 0; seen < context; seen += chunk) d.run(d.next(chunk));
  EXPECT_EQ(d.cache.counters().evictions, 0);
  EXPECT_EQ(d.cache.pool_blocks(), ceil_div(kStreams * context, kBlock) + kStreams);
}

// A selector that promises a bound it does not keep: caught, not a silent pool growth.
class Unbounded final : public Selector {
 public:
  explicit Unbounded(bool due) : due_(due) {}
  bool due(const CacheState&) const override { return due_; }
  at::Tensor select(const Candidates& c, const at::Tensor&) const override { return at::ones({c.size()}, at::kBool); }
  std::optional<int64_t> retained_bound(int, int) const override { return 1; }
  std::optional<int64_t> trigger_bound(int, int) const override { return 1; }

 private:
  bool due_;
};

TEST(PagedKvCache, PolicyThatBreaksItsBoundIsCaught) {
  at::manual_seed(16);
  {
    // Selects: keeping everything is above the retained bound; the forward stays abortable.
    PagedKvCache cache(options(at::kFloat, 2), make(PolicyKind::TrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Newest),
                                                   std::make_unique<Unbounded>(true)));
    const Step s = random_step(2, at::kFloat, false);
    ForwardScope forward(cache, ForwardTokens::uniform(2, Modality::Text));
    for (int l = 0; l < kLayers; ++l)
      cache.attend(l, s.q[static_cast<size_t>(l)], s.k[static_cast<size_t>(l)], s.v[static_cast<size_t>(l)], at::Tensor(), kScale);
    EXPECT_THROW(forward.commit(), Error);
  }
  {
    // Never evicts: the pool sized for the bound runs out within forwards it was sized for.
    PagedKvCache cache(options(at::kFloat, 2), make(PolicyKind::TrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Newest),
                                                   std::make_unique<Unbounded>(false)));
    const int64_t sized = cache.pool_blocks();
    bool caught = false;
    for (int step = 0; step < 20 && !caught; ++step) {
      const Step s = random_step(2, at::kFloat, false);
      ForwardScope forward(cache, ForwardTokens::uniform(2, Modality::Text));
      try {
        for (int l = 0; l < kLayers; ++l)
          cache.attend(l, s.q[static_cast<size_t>(l)], s.k[static_cast<size_t>(l)], s.v[static_cast<size_t>(l)], at::Tensor(), kScale);
        forward.commit();
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), Error::Kind::Internal);
        EXPECT_NE(std::string(e.what()).find("kept more than its bound"), std::string::npos) << e.what();
        caught = true;
      }
    }
    EXPECT_TRUE(caught);
    EXPECT_EQ(cache.pool_blocks(), sized);
  }
}

TEST(PagedKvCache, BoundedPoolGrowsOnlyForAForwardLargerThanSizedFor) {
  at::manual_seed(6);
  Driver d(options(at::kFloat, 2), make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash),
                                        std::make_unique<GlobalTop>(3, 2)),
           1e-5, 1e-5);
  const int64_t sized = d.cache.pool_blocks();
  d.run(d.next(30));  // a reference-compatible one-shot prefill of a long prompt
  const int64_t grown = d.cache.pool_blocks();
  EXPECT_GE(grown, kStreams * ceil_div(30, kBlock));
  EXPECT_GT(grown, sized);
  for (int step = 0; step < 20; ++step) d.run(d.next(1 + step % 2));
  EXPECT_EQ(d.cache.pool_blocks(), grown);
  EXPECT_LT(total(d.cache.lengths()), kStreams * (3 + 2));
}

TEST(PagedKvCache, AbortRestoresTheStateBeforeTheForward) {
  at::manual_seed(7);
  auto policy = [] {
    return make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, nullptr, AttentionNeeds{2, true}),
                std::make_unique<GlobalTop>(3, 2));
  };
  Driver a(options(at::kFloat), policy(), 1e-5, 1e-5), b(options(at::kFloat), policy(), 1e-5, 1e-5);
  for (int64_t t : {9, 1, 2, 1, 1, 3}) {
    const Step s = a.next(t, true);
    a.run(s);
    b.run(s);
  }
  ASSERT_GT(a.cache.counters().evictions, 0);
  const std::vector<int64_t> lengths = a.cache.lengths();
  const int64_t free = a.cache.free_blocks(), pool = a.cache.pool_blocks(), seen = a.cache.seen_tokens();
  const CacheCounters counters = a.cache.counters();
  {
    // A long forward (the pool grows for it) that fails after layer 0.
    const Step s = a.next(40, true);
    ForwardScope forward(a.cache, ForwardTokens::uniform(40, Modality::Video));
    a.cache.attend(0, s.q[0], s.k[0], s.v[0], s.log_beta[0], kScale);
  }
  EXPECT_EQ(a.cache.lengths(), lengths);
  EXPECT_EQ(a.cache.seen_tokens(), seen);
  EXPECT_GT(a.cache.pool_blocks(), pool);
  EXPECT_EQ(a.cache.free_blocks(), free + a.cache.pool_blocks() - pool);  // plus what the growth added
  EXPECT_EQ(a.cache.counters().forwards, counters.forwards);
  EXPECT_EQ(a.cache.counters().peak_cached_tokens, counters.peak_cached_tokens);
  a.check_invariants();
  // Carrying on gives exactly what a cache that never saw the failed forward gives (accumulated
  // attention included: it decides the evictions).
  for (int64_t t : {1, 2, 1, 1, 4, 1, 1}) {
    const Step s = a.next(t, true);
    const auto out_a = a.run(s), out_b = b.run(s);
    for (size_t l = 0; l < out_a.size(); ++l) EXPECT_TRUE(at::equal(out_a[l], out_b[l]));
    EXPECT_EQ(a.cache.lengths(), b.cache.lengths());
  }
  for (int l = 0; l < kLayers; ++l)
    for (int h = 0; h < kKvHeads; ++h) EXPECT_TRUE(at::equal(a.cache.positions(l, h), b.cache.positions(l, h)));
}

TEST(PagedKvCache, ResetStartsANewSequence) {
  at::manual_seed(8);
  auto policy = [] {
    return make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash), std::make_unique<GlobalTop>(2, 2));
  };
  Driver a(options(at::kFloat), policy(), 1e-5, 1e-5);
  for (int64_t t : {5, 1, 1, 6, 1}) a.run(a.next(t, true));
  ASSERT_GT(a.cache.counters().evictions, 0);
  a.cache.reset();
  EXPECT_EQ(a.cache.seen_tokens(), 0);
  EXPECT_TRUE(a.cache.tokens().empty());
  EXPECT_EQ(total(a.cache.lengths()), 0);
  EXPECT_EQ(a.cache.free_blocks(), a.cache.pool_blocks());
  EXPECT_EQ(a.cache.counters().forwards, 0);
  EXPECT_EQ(a.cache.counters().peak_cached_tokens, 0);
  // The new sequence may run without gates; it behaves as a fresh cache.
  Driver fresh(options(at::kFloat), policy(), 1e-5, 1e-5);
  for (int64_t t : {4, 1, 3, 1, 1}) {
    const Step s = fresh.next(t);
    const auto x = fresh.run(s);
    // `a` after reset, driven directly (its Driver's history belongs to the old sequence).
    ForwardScope forward(a.cache, ForwardTokens::uniform(t, Modality::Text));
    for (int l = 0; l < kLayers; ++l) {
      const size_t i = static_cast<size_t>(l);
      EXPECT_TRUE(at::equal(a.cache.attend(l, s.q[i], s.k[i], s.v[i], at::Tensor(), kScale), x[i]));
    }
    forward.commit();
    EXPECT_EQ(a.cache.lengths(), fresh.cache.lengths());
  }
  EXPECT_EQ(a.cache.counters().evictions, fresh.cache.counters().evictions);
  EXPECT_EQ(a.cache.counters().peak_cached_tokens, fresh.cache.counters().peak_cached_tokens);
}

// The candidates a policy sees: stream-major, chronological, with the gate output of each token.
TEST(PagedKvCache, CandidatesCarryPositionsAndGateOutput) {
  at::manual_seed(9);
  auto log = std::make_shared<CandidateLog>();
  Driver d(options(at::kBFloat16), make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, log),
                                        std::make_unique<GlobalTop>(2, 1)),
           2e-2, 2e-2);
  for (int64_t t : {5, 1, 1, 2, 1, 1}) {
    std::vector<int64_t> held = d.cache.lengths();
    for (auto& l : held) l += t;
    const size_t events = log->size();
    std::vector<at::Tensor> positions;  // what each stream will hold after the forward, before eviction
    for (int l = 0; l < kLayers; ++l)
      for (int h = 0; h < kKvHeads; ++h)
        positions.push_back(at::cat({d.cache.positions(l, h), at::arange(d.cache.seen_tokens(), d.cache.seen_tokens() + t)}));
    d.run(d.next(t, true));
    if (log->size() == events) continue;
    const Candidates& c = log->back();
    EXPECT_EQ(c.lengths, held);
    EXPECT_EQ(c.seen, d.cache.seen_tokens());
    EXPECT_TRUE(at::equal(c.position, at::cat(positions)));
    at::Tensor expected_stream = at::repeat_interleave(at::arange(kStreams), at::tensor(held, at::kLong));
    EXPECT_TRUE(at::equal(c.stream, expected_stream));
    for (int s = 0; s < kStreams; ++s) {
      const at::Tensor mine = c.stream == s;
      const at::Tensor expected = d.history_beta[static_cast<size_t>(s / kKvHeads)]
                                      .index_select(0, c.position.masked_select(mine))
                                      .select(1, s % kKvHeads);
      EXPECT_TRUE(at::equal(c.log_beta.masked_select(mine), expected));
    }
    EXPECT_FALSE(c.window_attention.defined());
    EXPECT_FALSE(c.accumulated_attention.defined());
  }
  EXPECT_GE(log->size(), 2u);
}

// SnapKV's statistic: each candidate's attention from the last W queries (of any forward), each
// query seeing only tokens at or before it, averaged over queries and the group's heads.
TEST(PagedKvCache, WindowAttentionIsTheMeanOverTheLastQueries) {
  at::manual_seed(10);
  constexpr int64_t window = 3;
  auto log = std::make_shared<CandidateLog>();
  Driver d(options(at::kFloat),
           make(PolicyKind::SnapKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, log, AttentionNeeds{window, false}),
                std::make_unique<GlobalTop>(2, 2)),
           1e-5, 1e-5);
  size_t checked = 0;
  for (int64_t t : {6, 1, 2, 1, 1, 1, 5, 1, 1}) {
    const size_t events = log->size();
    d.run(d.next(t));
    if (log->size() == events) continue;
    const Candidates& c = log->back();
    ASSERT_TRUE(c.window_attention.defined());
    const int64_t seen = c.seen;
    at::Tensor expected = at::zeros({c.size()}, at::kDouble);
    for (int s = 0; s < kStreams; ++s) {
      const int l = s / kKvHeads, h = s % kKvHeads;
      const at::Tensor where = at::nonzero(c.stream == s).view(-1);
      const at::Tensor pos = c.position.index_select(0, where);
      const at::Tensor keys = d.history_k[static_cast<size_t>(l)].index_select(0, pos).select(1, h);
      at::Tensor sum = at::zeros({pos.size(0)}, at::kDouble);
      for (int64_t qp = seen - window; qp < seen; ++qp)
        for (int g = 0; g < kHeads / kKvHeads; ++g) {
          const at::Tensor visible = pos <= qp;
          if (!visible.any().item<bool>()) continue;
          const at::Tensor q = d.history_q[static_cast<size_t>(l)][qp][h * (kHeads / kKvHeads) + g];
          const at::Tensor idx = at::nonzero(visible).view(-1);
          sum.index_add_(0, idx, weights(q, keys.index_select(0, idx)));
        }
      expected.index_copy_(0, where, sum / static_cast<double>(window * (kHeads / kKvHeads)));
    }
    TRIMVL_EXPECT_CLOSE(c.window_attention, expected, 1e-5, 1e-6);
    ++checked;
  }
  EXPECT_GE(checked, 2u);
}

// H2O's statistic: attention each token has received from decode queries (and from a prefill's
// last `window` queries) since it entered, summed over the group's heads.
TEST(PagedKvCache, AccumulatedAttentionSumsSinceTheTokenEntered) {
  at::manual_seed(11);
  constexpr int64_t window = 2;
  auto log = std::make_shared<CandidateLog>();
  Driver d(options(at::kFloat),
           make(PolicyKind::H2O, std::make_unique<TestScorer>(TestScorer::Kind::Hash, log, AttentionNeeds{window, true}),
                std::make_unique<GlobalTop>(3, 2)),
           1e-5, 1e-5);
  std::vector<std::map<int64_t, double>> expected(kStreams);  // stream → position → accumulated
  size_t checked = 0;
  for (int64_t t : {7, 1, 1, 4, 1, 1, 1, 6, 1, 1}) {
    const int64_t seen = d.cache.seen_tokens();
    std::vector<at::Tensor> held(kStreams);
    for (int s = 0; s < kStreams; ++s)
      held[static_cast<size_t>(s)] = at::cat({d.cache.positions(s / kKvHeads, s % kKvHeads), at::arange(seen, seen + t)});
    const size_t events = log->size();
    const Step step = d.next(t);
    d.run(step);
    for (int s = 0; s < kStreams; ++s) {
      const int l = s / kKvHeads, h = s % kKvHeads;
      const at::Tensor pos = held[static_cast<size_t>(s)];
      const at::Tensor keys = d.history_k[static_cast<size_t>(l)].index_select(0, pos).select(1, h);
      for (int64_t i = t - std::min(t, window); i < t; ++i)
        for (int g = 0; g < kHeads / kKvHeads; ++g) {
          const int64_t visible = pos.size(0) - t + i + 1;
          const at::Tensor w = weights(step.q[static_cast<size_t>(l)][i][h * (kHeads / kKvHeads) + g], keys.narrow(0, 0, visible));
          for (int64_t j = 0; j < visible; ++j) expected[static_cast<size_t>(s)][pos[j].item<int64_t>()] += w[j].item<double>();
        }
    }
    if (log->size() == events) continue;
    const Candidates& c = log->back();
    ASSERT_TRUE(c.accumulated_attention.defined());
    at::Tensor want = at::empty({c.size()}, at::kDouble);
    for (int64_t i = 0; i < c.size(); ++i)
      want[i].fill_(expected[static_cast<size_t>(c.stream[i].item<int64_t>())].at(c.position[i].item<int64_t>()));
    TRIMVL_EXPECT_CLOSE(c.accumulated_attention, want, 1e-5, 1e-6);
    ++checked;
  }
  EXPECT_GE(checked, 2u);
}

class Recorder final : public CacheObserver {
 public:
  explicit Recorder(int64_t stride) : stride_(stride) {}
  void on_eviction(const EvictionEvent& e) override { events.push_back(e); }
  void on_step(const StepRecord& r) override { steps.push_back(r); }
  int64_t step_stride() const override { return stride_; }
  bool wants_positions() const override { return true; }

  std::vector<EvictionEvent> events;
  std::vector<StepRecord> steps;

 private:
  int64_t stride_;
};

TEST(PagedKvCache, ObserverSeesEvictionsAndSteps) {
  at::manual_seed(12);
  Driver d(options(at::kFloat), make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash),
                                     std::make_unique<GlobalTop>(3, 2)),
           1e-5, 1e-5);
  Recorder recorder(3);
  d.cache.set_observer(&recorder);
  std::vector<int64_t> evicted_at;
  const std::vector<std::pair<int64_t, Modality>> forwards = {
      {6, Modality::Image}, {3, Modality::Text}, {1, Modality::Generated}, {1, Modality::Generated},
      {4, Modality::Video}, {1, Modality::Generated}, {1, Modality::Generated}, {1, Modality::Generated}};
  for (size_t f = 0; f < forwards.size(); ++f) {
    const size_t before = recorder.events.size();
    const std::vector<int64_t> lengths = d.cache.lengths();
    d.run(d.next(forwards[f].first), forwards[f].second);
    if (recorder.events.size() == before) continue;
    evicted_at.push_back(static_cast<int64_t>(f));
    const EvictionEvent& e = recorder.events.back();
    EXPECT_EQ(e.index, static_cast<int64_t>(recorder.events.size()) - 1);
    EXPECT_EQ(e.forward, static_cast<int64_t>(f));
    EXPECT_EQ(e.seen, d.cache.seen_tokens());
    EXPECT_EQ(e.lengths_after, d.cache.lengths());
    std::vector<int64_t> held = lengths;
    for (auto& l : held) l += forwards[f].first;
    EXPECT_EQ(e.lengths_before, held);
    EXPECT_EQ(e.kept.sum().item<int64_t>(), total(e.lengths_after));
    EXPECT_EQ(e.score.size(0), total(held));
    EXPECT_TRUE(e.stream.device().is_cpu() && e.kept.device().is_cpu());
    ModalityCounts kept{}, evicted{};
    for (int64_t i = 0; i < e.position.size(0); ++i) {
      auto& counts = e.kept[i].item<bool>() ? kept : evicted;
      ++counts[static_cast<size_t>(d.cache.tokens()[static_cast<size_t>(e.position[i].item<int64_t>())].modality)];
    }
    EXPECT_EQ(e.kept_by_modality, kept);
    EXPECT_EQ(e.evicted_by_modality, evicted);
  }
  ASSERT_FALSE(evicted_at.empty());
  // Steps: every 3rd forward (0, 3, 6) and every forward that evicted.
  std::vector<int64_t> want;
  for (int64_t f = 0; f < static_cast<int64_t>(forwards.size()); ++f)
    if (f % 3 == 0 || std::find(evicted_at.begin(), evicted_at.end(), f) != evicted_at.end()) want.push_back(f);
  std::vector<int64_t> got;
  for (const auto& r : recorder.steps) got.push_back(r.forward);
  EXPECT_EQ(got, want);
  const StepRecord& last = recorder.steps.back();
  EXPECT_EQ(last.positions.size(0), total(last.lengths));
  EXPECT_EQ(last.cached_tokens, total(last.lengths));
  EXPECT_EQ(last.kv_bytes, last.cached_tokens * 2 * kDim * 4);
  int64_t by_modality = 0;
  for (int64_t n : last.cached_by_modality) by_modality += n;
  EXPECT_EQ(by_modality, last.cached_tokens);
  EXPECT_EQ(d.cache.counters().evictions, static_cast<int64_t>(recorder.events.size()));
  EXPECT_EQ(d.cache.counters().forwards, static_cast<int64_t>(forwards.size()));
  d.cache.set_observer(nullptr);
  d.run(d.next(1));
  EXPECT_EQ(recorder.steps.size(), got.size());
}

TEST(PagedKvCache, MeanCacheRatioCountsKvHeads) {
  at::manual_seed(13);
  Driver d(options(at::kFloat), full_policy(), 1e-5, 1e-5);
  d.run(d.next(4));
  d.run(d.next(1));
  // Nothing evicted: every forward holds all it has seen.
  EXPECT_DOUBLE_EQ(d.cache.counters().mean_cache_ratio(), 1.0);
  EXPECT_EQ(d.cache.counters().kv_bytes, kStreams * 5 * 2 * kDim * 4);
}

TEST(PagedKvCache, GatedPolicyWithoutGatesFailsBeforeChangingAnything) {
  at::manual_seed(14);
  PagedKvCache cache(options(at::kFloat),
                     make(PolicyKind::DBTrimKV, std::make_unique<TestScorer>(TestScorer::Kind::Hash, nullptr, AttentionNeeds{}, true),
                          std::make_unique<GlobalTop>(2, 1)));
  const Step s = random_step(3, at::kFloat, false);
  try {
    ForwardScope forward(cache, ForwardTokens::uniform(3, Modality::Text));
    cache.attend(0, s.q[0], s.k[0], s.v[0], at::Tensor(), kScale);
    FAIL() << "attend without log β under a gated policy succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("policy dbtrimkv needs retention gates: pass --gates DIR"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(cache.seen_tokens(), 0);
  EXPECT_TRUE(cache.tokens().empty());
  EXPECT_EQ(cache.free_blocks(), cache.pool_blocks());
}

TEST(PagedKvCache, RejectsMisuse) {
  at::manual_seed(15);
  PagedKvCache cache(options(at::kFloat), full_policy());
  const Step s = random_step(2, at::kFloat, true);
  EXPECT_THROW(cache.attend(0, s.q[0], s.k[0], s.v[0], at::Tensor(), kScale), Error);  // outside a forward
  EXPECT_THROW(cache.end_forward(), Error);
  EXPECT_THROW(cache.begin_forward(ForwardTokens::uniform(0, Modality::Text)), Error);
  {
    ForwardScope forward(cache, ForwardTokens::uniform(2, Modality::Text));
    EXPECT_THROW(cache.begin_forward(ForwardTokens::uniform(1, Modality::Text)), Error);
    EXPECT_THROW(cache.attend(kLayers, s.q[0], s.k[0], s.v[0], at::Tensor(), kScale), Error);
    EXPECT_THROW(cache.attend(0, s.q[0].narrow(0, 0, 1), s.k[0], s.v[0], at::Tensor(), kScale), Error);  // T
    EXPECT_THROW(cache.attend(0, s.q[0], at::randn({2, 3, kDim}), at::randn({2, 3, kDim}), at::Tensor(), kScale),
                 Error);  // H_kv
    EXPECT_THROW(cache.attend(0, s.q[0], s.k[0].narrow(2, 0, 4), s.v[0].narrow(2, 0, 4), at::Tensor(), kScale),
                 Error);  // D
    EXPECT_THROW(cache.attend(0, s.q[0].narrow(1, 0, 3), s.k[0], s.v[0], at::Tensor(), kScale), Error);  // H_q % H_kv
    EXPECT_THROW(cache.attend(0, s.q[0].to(at::kDouble), s.k[0].to(at::kDouble), s.v[0].to(at::kDouble), at::Tensor(),
                              kScale),
                 Error);  // dtype
    EXPECT_THROW(cache.attend(0, s.q[0], s.k[0], s.v[0], at::zeros({2, kKvHeads + 1}), kScale), Error);  // log β
    EXPECT_THROW(cache.attend(0, s.q[0], s.k[0], s.v[0], at::zeros({2}), kScale), Error);
    EXPECT_THROW(cache.attend(0, s.q[0], s.k[0], s.v[0], at::zeros({2, kKvHeads}, at::kInt), kScale), Error);
    cache.attend(0, s.q[0], s.k[0], s.v[0], s.log_beta[0], kScale);
    EXPECT_THROW(cache.attend(0, s.q[0], s.k[0], s.v[0], s.log_beta[0], kScale), Error);  // twice
    EXPECT_THROW(cache.attend(1, s.q[1], s.k[1], s.v[1], at::Tensor(), kScale), Error);  // gates for some layers only
    EXPECT_THROW(cache.end_forward(), Error);  // layer 1 missing
    EXPECT_THROW(cache.reset(), Error);
  }
  EXPECT_EQ(cache.seen_tokens(), 0);
  EXPECT_EQ(cache.free_blocks(), cache.pool_blocks());
  EXPECT_THROW(cache.positions(0, kKvHeads), Error);
  EXPECT_THROW(PagedKvCache(PagedCacheOptions{.num_layers = 0, .num_kv_heads = 1, .head_dim = 8}, full_policy()), Error);
  EXPECT_THROW(PagedKvCache(options(at::kFloat), nullptr), Error);
}

}  // namespace
}  // namespace trimvl::cache
