#include "cache/policy.h"

#include <array>
#include <cmath>
#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "kernels/runtime/error.h"

namespace trimvl::cache {
namespace {

constexpr std::array<std::pair<PolicyKind, std::string_view>, 6> kPolicies{{
    {PolicyKind::Full, "full"},
    {PolicyKind::TrimKV, "trimkv"},
    {PolicyKind::DBTrimKV, "dbtrimkv"},
    {PolicyKind::StreamingLLM, "streaming"},
    {PolicyKind::SnapKV, "snapkv"},
    {PolicyKind::H2O, "h2o"},
}};

}  // namespace

std::string_view policy_name(PolicyKind kind) {
  for (const auto& [k, name] : kPolicies)
    if (k == kind) return name;
  return "unknown";
}

PolicyKind parse_policy(std::string_view name) {
  for (const auto& [kind, n] : kPolicies)
    if (n == name) return kind;
  throw Error(fmt::format("unknown KV policy '{}': choose full, trimkv, dbtrimkv, streaming, snapkv or h2o", name));
}

std::string_view strategy_name(BudgetStrategy strategy) {
  return strategy == BudgetStrategy::FixedBudget ? "fixed_budget" : "threshold";
}

BudgetStrategy parse_strategy(std::string_view name) {
  if (name == "fixed_budget") return BudgetStrategy::FixedBudget;
  if (name == "threshold") return BudgetStrategy::Threshold;
  throw Error(fmt::format("unknown KV budget strategy '{}': choose fixed_budget or threshold", name));
}

void PolicyOptions::validate() const {
  TRIMVL_CHECK_ARG(!needs_budget() || budget > 0,
                   "--kv-budget must be a positive number of tokens per (layer, kv-head) for policy {}, got {}",
                   policy_name(kind), budget);
  TRIMVL_CHECK_ARG(buffer >= 1, "--kv-buffer must be at least 1, got {}", buffer);
  TRIMVL_CHECK_ARG(alpha > 0 && alpha < 1, "--kv-alpha must lie in (0, 1), got {}", alpha);
  TRIMVL_CHECK_ARG(min_per_head >= 0, "--kv-min-per-head must not be negative, got {}", min_per_head);
  TRIMVL_CHECK_ARG(kind != PolicyKind::DBTrimKV || strategy != BudgetStrategy::FixedBudget || min_per_head < budget,
                   "--kv-min-per-head ({}) must be below --kv-budget ({})", min_per_head, budget);
  TRIMVL_CHECK_ARG(lookahead >= 1, "--kv-lookahead must be at least 1, got {}", lookahead);
  TRIMVL_CHECK_ARG(window >= 0, "--kv-window must not be negative, got {}", window);
  TRIMVL_CHECK_ARG(sinks >= 0, "--kv-sinks must not be negative, got {}", sinks);
  TRIMVL_CHECK_ARG(kind != PolicyKind::StreamingLLM || sinks < budget,
                   "--kv-sinks ({}) must be below --kv-budget ({})", sinks, budget);
  TRIMVL_CHECK_ARG(pool_kernel >= 1 && pool_kernel % 2 == 1, "the SnapKV pooling width must be odd, got {}",
                   pool_kernel);
}

bool PolicyOptions::needs_budget() const {
  return kind != PolicyKind::Full && !(kind == PolicyKind::DBTrimKV && strategy == BudgetStrategy::Threshold);
}

int64_t CacheState::total() const {
  return lengths ? std::accumulate(lengths->begin(), lengths->end(), int64_t{0}) : 0;
}

Policy::Policy(PolicyOptions options, std::unique_ptr<Scorer> scorer, std::unique_ptr<Selector> selector)
    : options_(std::move(options)), scorer_(std::move(scorer)), selector_(std::move(selector)) {
  TRIMVL_CHECK(!selector_ || scorer_, "policy {}: a selector needs a scorer", policy_name(options_.kind));
}

std::string Policy::describe() const {
  const PolicyOptions& o = options_;
  switch (o.kind) {
    case PolicyKind::Full: return "full";
    case PolicyKind::TrimKV:
      return fmt::format("trimkv M={} B={}{}{}", o.budget, o.buffer, o.window ? fmt::format(" window={}", o.window) : "",
                         o.lookahead > 1 ? fmt::format(" lookahead={}", o.lookahead) : "");
    case PolicyKind::DBTrimKV:
      return fmt::format("dbtrimkv {}{} B={}{}{}{}", strategy_name(o.strategy),
                         o.strategy == BudgetStrategy::FixedBudget ? fmt::format(" M={}", o.budget) : "", o.buffer,
                         o.strategy == BudgetStrategy::Threshold ? fmt::format(" alpha={}", o.alpha) : "",
                         o.min_per_head ? fmt::format(" min_per_head={}", o.min_per_head) : "",
                         o.lookahead > 1 ? fmt::format(" lookahead={}", o.lookahead) : "");
    case PolicyKind::StreamingLLM: return fmt::format("streaming M={} B={} sinks={}", o.budget, o.buffer, o.sinks);
    case PolicyKind::SnapKV:
      return fmt::format("snapkv M={} B={} window={} kernel={}", o.budget, o.buffer, o.window, o.pool_kernel);
    case PolicyKind::H2O: return fmt::format("h2o M={} B={} window={}", o.budget, o.buffer, o.window);
  }
  return "unknown";
}

}  // namespace trimvl::cache
