#pragma once
// The HF transformers baseline of `trimvl bench`: runs app/bench/hf_baseline.py (or another script
// with its command line and JSON) on the benchmark's settings and turns its results into ratios.
// Used by run_bench(); the CLI sees only bench.h.
#include "app/bench/bench.h"

namespace trimvl::app {

// Runs options.hf_baseline's script with the report's config, device and dtype and the options'
// contexts, decode tokens, warm-up and seed, and reads what it wrote. Never throws for the script's
// sake: a script that cannot start, exits non-zero or writes JSON without the fields we need gives
// a result whose `error` names the script and the problem.
HfBaseline run_hf_baseline(const BenchReport& report, const BenchOptions& options);

// Sets report.hf_baseline and, when it has results, every ratio: per policy, TTFT (HF's over our
// vision + prefill) and decode tokens/s per context (ours over HF's).
void attach_hf_baseline(BenchReport& report, HfBaseline baseline);

}  // namespace trimvl::app
