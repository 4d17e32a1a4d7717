// Our policies against trimkv 0.1.5's own TrimKVCache and PagedTrimKVCache
// (tests/golden/gen_trimkv_policies.py): the same log β, appended forward by forward and evicted
// once per forward, must leave every (layer, kv-head) with the same positions after every forward.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cache/policy.h"
#include "tests/cache/packed_streams.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::cache {
namespace {

PolicyOptions options_of(const nlohmann::json& c) {
  PolicyOptions o;
  o.kind = parse_policy(c.at("policy").get<std::string>());
  o.strategy = parse_strategy(c.at("strategy").get<std::string>());
  o.budget = c.at("budget");
  o.buffer = c.at("buffer");
  o.window = c.at("window");
  o.lookahead = c.at("lookahead");
  o.alpha = c.at("alpha");
  o.min_per_head = c.at("min_per_head");
  return o;
}

// One case: fails at its first differing forward (later forwards build on it), then returns so
// the other cases still run.
void replay(const nlohmann::json& c) {
  const auto policy = make_policy(options_of(c));
  test::PackedStreams cache(c.at("layers").get<int>(), c.at("heads").get<int>());
  int64_t evicting = 0;
  const auto& forwards = c.at("forwards");
  for (size_t f = 0; f < forwards.size(); ++f) {
    const auto& forward = forwards[f];
    const int64_t tokens = forward.at("tokens");
    const auto& log_beta = forward.at("log_beta");
    for (size_t s = 0; s < cache.streams.size(); ++s)
      for (int64_t t = 0; t < tokens; ++t)
        cache.streams[s].push_back({cache.seen + t, log_beta.at(s).at(t).get<float>(), 0.0f});
    cache.seen += tokens;
    const int64_t before = cache.total();
    cache.evict(*policy, tokens);
    evicting += cache.total() < before;
    for (size_t s = 0; s < cache.streams.size(); ++s)
      ASSERT_EQ(cache.positions(s), forward.at("retained").at(s).get<std::vector<int64_t>>())
          << "forward " << f << " (seen " << cache.seen << "), stream " << s;
  }
  EXPECT_EQ(evicting, c.at("evicting_forwards").get<int64_t>());
}

TEST(PolicyGolden, RetainsWhatTrimkvRetainsAtEveryStep) {
  const auto golden = nlohmann::json::parse(test::read_file(test::golden_dir("trimkv_policies") / "cases.json"));
  const auto& cases = golden.at("cases");
  ASSERT_EQ(cases.size(), 15u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c.at("name").get<std::string>() + ": " + make_policy(options_of(c))->describe());
    replay(c);
  }
}

}  // namespace
}  // namespace trimvl::cache
