#include "cache/policies/snapkv_scorer.h"

#include <limits>

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {

SnapKvScorer::SnapKvScorer(int64_t window, int64_t pool_kernel) : window_(window), pool_kernel_(pool_kernel) {
  TRIMVL_CHECK_ARG(window >= 1, "snapkv: the observation window must be at least 1 token, got {}", window);
  TRIMVL_CHECK_ARG(pool_kernel >= 1 && pool_kernel % 2 == 1, "snapkv: the pooling width must be odd, got {}",
                   pool_kernel);
}

at::Tensor SnapKvScorer::score(const Candidates& candidates) const {
  check_candidates(candidates);
  const int64_t n = candidates.size();
  TRIMVL_CHECK(n == 0 || candidates.window_attention.defined(),
               "snapkv scores need the observation window's attention, and the candidates carry none");
  if (n == 0) return at::empty({0}, at::kFloat);
  constexpr float inf = std::numeric_limits<float>::infinity();
  const at::Tensor index = index_in_stream(candidates);
  const at::Tensor length = stream_lengths(candidates).index_select(0, candidates.stream);
  const at::Tensor recent = index >= length - window_;
  const at::Tensor attention = candidates.window_attention.to(at::kFloat).masked_fill(recent, -inf);
  // Max over the neighbours d = 1 .. kernel/2 on each side that lie in the same stream; the
  // packed layout makes "same stream" an index check.
  at::Tensor pooled = attention.clone();
  for (int64_t d = 1; d <= pool_kernel_ / 2 && d < n; ++d) {
    const at::Tensor pad = at::full({d}, -inf, attention.options());
    const at::Tensor before = at::cat({pad, attention.narrow(0, 0, n - d)});
    const at::Tensor after = at::cat({attention.narrow(0, d, n - d), pad});
    pooled = at::maximum(pooled, before.masked_fill(index < d, -inf));
    pooled = at::maximum(pooled, after.masked_fill(index + d >= length, -inf));
  }
  return pooled.masked_fill_(recent, inf);
}

}  // namespace trimvl::cache
