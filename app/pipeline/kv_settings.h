#pragma once
// The engine's torch-free KV cache settings as the cache layer's policy options.
#include "app/engine.h"
#include "cache/policy.h"

namespace trimvl::app {

// Unset fields keep PolicyOptions' defaults. Throws InvalidInput naming the flag for a value out of
// range (a budget ≤ 0, α outside (0, 1), a prefill chunk ≤ 0, ...), before any model is loaded.
cache::PolicyOptions policy_options(const KvCacheSettings& settings);

}  // namespace trimvl::app
