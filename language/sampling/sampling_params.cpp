#include "language/sampling/sampling_params.h"

#include <cmath>

#include "kernels/runtime/error.h"

namespace trimvl {

void SamplingParams::validate() const {
  TRIMVL_CHECK_ARG(std::isfinite(temperature) && temperature >= 0,
                   "sampling: temperature must be >= 0 (0 means greedy), got {}", temperature);
  TRIMVL_CHECK_ARG(top_k >= 0, "sampling: top_k must be >= 0 (0 turns it off), got {}", top_k);
  TRIMVL_CHECK_ARG(top_p > 0 && top_p <= 1, "sampling: top_p must be in (0, 1] (1 turns it off), got {}", top_p);
  if (min_p) TRIMVL_CHECK_ARG(*min_p >= 0 && *min_p <= 1, "sampling: min_p must be in [0, 1], got {}", *min_p);
  TRIMVL_CHECK_ARG(std::isfinite(repetition_penalty) && repetition_penalty > 0,
                   "sampling: repetition_penalty must be > 0 (1 turns it off), got {}", repetition_penalty);
}

}  // namespace trimvl
