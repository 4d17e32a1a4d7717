// expand_sweep (app/eval/sweep.h): --kv-policy × --kv-budget into the configurations of one run.
#include <gtest/gtest.h>

#include "app/eval/sweep.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

std::vector<std::string> labels(const std::vector<SweepConfig>& configs) {
  std::vector<std::string> out;
  for (const auto& c : configs) out.push_back(c.config.label());
  return out;
}

TEST(EvalSweep, CrossesBoundedPoliciesWithSortedBudgetsAndFullOnce) {
  KvCacheSettings common;
  common.buffer = 16;
  common.gates = "/gates";
  const auto configs = expand_sweep({"dbtrimkv", "full", "trimkv", "dbtrimkv"}, {128, 32, 128}, common);
  EXPECT_EQ(labels(configs), (std::vector<std::string>{"dbtrimkv-M32", "dbtrimkv-M128", "full", "trimkv-M32",
                                                      "trimkv-M128"}));
  for (const auto& c : configs) {
    EXPECT_EQ(c.settings.policy, c.config.policy);
    EXPECT_EQ(c.settings.budget, c.config.budget);
    EXPECT_EQ(c.settings.buffer, 16);  // the run's other settings reach every configuration
    EXPECT_EQ(c.settings.gates, "/gates");
  }
  EXPECT_FALSE(configs[2].settings.budget.has_value());
}

TEST(EvalSweep, FullAloneNeedsNoBudgetAndIgnoresOne) {
  EXPECT_EQ(labels(expand_sweep({"full"}, {}, {})), (std::vector<std::string>{"full"}));
  KvCacheSettings common;
  common.budget = 64;
  const auto configs = expand_sweep({"full"}, {64}, common);
  ASSERT_EQ(configs.size(), 1u);
  EXPECT_FALSE(configs[0].settings.budget.has_value());
}

TEST(EvalSweep, RefusesWhatCannotRun) {
  EXPECT_THROW(expand_sweep({}, {64}, {}), Error);
  EXPECT_THROW(expand_sweep({"full", "dbtrimkv"}, {}, {}), Error);
  EXPECT_THROW(expand_sweep({"trimkv"}, {64, 0}, {}), Error);
  try {
    expand_sweep({"snapkv"}, {}, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("snapkv needs --kv-budget"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace trimvl::app::eval
