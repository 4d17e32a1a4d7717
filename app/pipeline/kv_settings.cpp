#include "app/pipeline/kv_settings.h"

#include "kernels/runtime/error.h"

namespace trimvl::app {

cache::PolicyOptions policy_options(const KvCacheSettings& s) {
  cache::PolicyOptions o;
  o.kind = cache::parse_policy(s.policy);
  if (s.strategy) o.strategy = cache::parse_strategy(*s.strategy);
  TRIMVL_CHECK_ARG(!o.needs_budget() || s.budget.has_value(),
                   "--kv-policy {} needs --kv-budget M (tokens kept per layer and kv head)", s.policy);
  if (s.budget) o.budget = *s.budget;
  if (s.buffer) o.buffer = *s.buffer;
  if (s.alpha) o.alpha = *s.alpha;
  if (s.min_per_head) o.min_per_head = *s.min_per_head;
  if (s.lookahead) o.lookahead = *s.lookahead;
  if (s.window) o.window = *s.window;
  if (s.sinks) o.sinks = *s.sinks;
  if (s.prefill_chunk)
    TRIMVL_CHECK_ARG(*s.prefill_chunk > 0, "--prefill-chunk must be a positive number of tokens, got {}",
                     *s.prefill_chunk);
  o.validate();
  return o;
}

}  // namespace trimvl::app
