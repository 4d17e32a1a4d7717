#pragma once
// The configurations one `trimvl eval` run evaluates: every policy of --kv-policy crossed with every
// budget of --kv-budget (full, which keeps everything, takes no budget and appears once), each with
// the run's other KV settings (buffer, strategy, ...). Torch-free.
#include <cstdint>
#include <string>
#include <vector>

#include "app/engine.h"
#include "app/eval/task_result.h"

namespace trimvl::app::eval {

struct SweepConfig {
  KvConfig config;           // policy and budget: the label results are filed under
  KvCacheSettings settings;  // what Engine::set_kv_cache receives
};

// Policies in the order given, budgets ascending; repeated values collapse. Throws
// Error(InvalidInput) for an empty policy list, a bounded policy without budgets, or a budget < 1.
std::vector<SweepConfig> expand_sweep(const std::vector<std::string>& policies, const std::vector<int64_t>& budgets,
                                      const KvCacheSettings& common);

}  // namespace trimvl::app::eval
