#include "cache/policies/retention_scorer.h"

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "cache/policies/stream_rank.h"
#include "kernels/runtime/error.h"

namespace trimvl::cache {
namespace {

// log(1 − eˣ) for x ≤ 0, switching formulas at log ½ for accuracy (Mächler 2012), as trimkv does.
at::Tensor log1mexp(const at::Tensor& x) {
  return at::where(x < std::log(0.5), at::log1p(-at::exp(x)), at::log(-at::expm1(x)));
}

}  // namespace

at::Tensor retention_score(const at::Tensor& log_beta, const at::Tensor& position, int64_t seen, int64_t lookahead) {
  TRIMVL_CHECK_ARG(lookahead >= 1, "retention score: lookahead must be at least 1, got {}", lookahead);
  const at::Tensor lb = log_beta.to(at::kFloat);
  // int64 ages times float32: the age is rounded to float32, then multiplied (the reference's
  // type promotion).
  if (lookahead == 1) return lb * at::rsub(position, seen + 1);
  // compute_log_G runs in float32 throughout: t = seen + 1, a = t + 1 − pos.
  const float a0 = static_cast<float>(seen + 1) + 1.0f;
  const at::Tensor a = at::rsub(position.to(at::kFloat), a0);
  // Only positive round-off is clamped; an exact 0 stays and makes the score NaN.
  const double eps = -static_cast<double>(1e-9f);
  const auto clamp_positive = [eps](const at::Tensor& x) { return at::where(x > 0, eps, x); };
  const at::Tensor x_num = clamp_positive(lb * static_cast<double>(static_cast<float>(lookahead)));
  const at::Tensor x_den = clamp_positive(lb);
  return a * lb + log1mexp(x_num) - log1mexp(x_den);
}

RetentionScorer::RetentionScorer(int64_t lookahead, int64_t window) : lookahead_(lookahead), window_(window) {
  TRIMVL_CHECK_ARG(lookahead >= 1, "retention scorer: lookahead must be at least 1, got {}", lookahead);
  TRIMVL_CHECK_ARG(window >= 0, "retention scorer: window must not be negative, got {}", window);
}

at::Tensor RetentionScorer::score(const Candidates& candidates) const {
  check_candidates(candidates);
  TRIMVL_CHECK(candidates.size() == 0 || candidates.log_beta.defined(),
               "retention scores need the retention gates' log beta, and the candidates carry none "
               "(a model without gates cannot run trimkv or dbtrimkv)");
  if (candidates.size() == 0) return at::empty({0}, at::kFloat);
  at::Tensor scores = retention_score(candidates.log_beta, candidates.position, candidates.seen, lookahead_);
  if (window_ > 0) scores.masked_fill_(most_recent(candidates, window_), std::numeric_limits<float>::infinity());
  return scores;
}

}  // namespace trimvl::cache
