// make_policy (cache/policy.h): which scorer runs under which selector for each PolicyKind.
#include <memory>

#include "cache/policies/global_top_k.h"
#include "cache/policies/h2o_scorer.h"
#include "cache/policies/per_head_top_k.h"
#include "cache/policies/retention_scorer.h"
#include "cache/policies/snapkv_scorer.h"
#include "cache/policies/streaming_scorer.h"
#include "cache/policies/threshold_selector.h"
#include "cache/policy.h"

namespace trimvl::cache {
namespace {

// SnapKV's own default observation window.
constexpr int64_t kSnapKvWindow = 32;

}  // namespace

std::shared_ptr<const Policy> make_policy(const PolicyOptions& options) {
  options.validate();
  PolicyOptions o = options;
  std::unique_ptr<Scorer> scorer;
  std::unique_ptr<Selector> selector;
  switch (o.kind) {
    case PolicyKind::Full: break;
    case PolicyKind::TrimKV:
      scorer = std::make_unique<RetentionScorer>(o.lookahead, o.window);
      selector = std::make_unique<PerHeadTopK>(o.budget, o.buffer);
      break;
    case PolicyKind::DBTrimKV:
      // The paged reference has no recent-window keep: the window is trimkv's alone.
      scorer = std::make_unique<RetentionScorer>(o.lookahead, 0);
      if (o.strategy == BudgetStrategy::FixedBudget)
        selector = std::make_unique<GlobalTopK>(o.budget, o.buffer, o.min_per_head);
      else
        selector = std::make_unique<ThresholdSelector>(o.alpha, o.buffer, o.min_per_head);
      break;
    case PolicyKind::StreamingLLM:
      scorer = std::make_unique<StreamingScorer>(o.sinks);
      selector = std::make_unique<PerHeadTopK>(o.budget, o.buffer);
      break;
    case PolicyKind::SnapKV:
      if (o.window == 0) o.window = kSnapKvWindow;  // stored, so describe() and traces show it
      scorer = std::make_unique<SnapKvScorer>(o.window, o.pool_kernel);
      selector = std::make_unique<PerHeadTopK>(o.budget, o.buffer);
      break;
    case PolicyKind::H2O:
      scorer = std::make_unique<H2OScorer>(o.window);
      selector = std::make_unique<PerHeadTopK>(o.budget, o.buffer);
      break;
  }
  return std::make_shared<const Policy>(std::move(o), std::move(scorer), std::move(selector));
}

}  // namespace trimvl::cache
