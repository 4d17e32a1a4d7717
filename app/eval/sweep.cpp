#include "app/eval/sweep.h"

#include <algorithm>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {

std::vector<SweepConfig> expand_sweep(const std::vector<std::string>& policies, const std::vector<int64_t>& budgets,
                                      const KvCacheSettings& common) {
  TRIMVL_CHECK_ARG(!policies.empty(), "--kv-policy: at least one policy");
  std::vector<int64_t> sorted = budgets;
  std::sort(sorted.begin(), sorted.end());
  sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  for (const int64_t b : sorted) TRIMVL_CHECK_ARG(b >= 1, "--kv-budget: {} is not a positive token count", b);

  std::vector<SweepConfig> configs;
  std::vector<std::string> seen;
  for (const std::string& policy : policies) {
    if (std::find(seen.begin(), seen.end(), policy) != seen.end()) continue;
    seen.push_back(policy);
    KvCacheSettings settings = common;
    settings.policy = policy;
    if (policy == "full") {
      settings.budget.reset();
      configs.push_back({{policy, std::nullopt}, std::move(settings)});
      continue;
    }
    TRIMVL_CHECK_ARG(!sorted.empty(), "--kv-policy {} needs --kv-budget (one or more budgets M)", policy);
    for (const int64_t budget : sorted) {
      settings.budget = budget;
      configs.push_back({{policy, budget}, settings});
    }
  }
  return configs;
}

}  // namespace trimvl::app::eval
