#include "language/sampling/logits_processors.h"

#include <algorithm>
#include <limits>

#include <ATen/ATen.h>

// Mirrors transformers 4.57.1 generation/logits_process.py: RepetitionPenaltyLogitsProcessor,
// TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, MinPLogitsWarper (filter_value −inf,
// min_tokens_to_keep 1).

namespace trimvl::logits {
namespace {

constexpr double kRemoved = -std::numeric_limits<double>::infinity();

}  // namespace

at::Tensor repetition_penalty(const at::Tensor& scores, const at::Tensor& seen, double penalty) {
  // HF gathers the seen ids' scores, rewrites them and scatters them back; a mask selects the same
  // elements and computes the same float32 products and quotients.
  const at::Tensor penalized = at::where(scores < 0, scores * penalty, scores / penalty);
  return at::where(seen.view_as(scores), penalized, scores);
}

at::Tensor temperature(const at::Tensor& scores, double temperature) { return scores / temperature; }

at::Tensor top_k(const at::Tensor& scores, int64_t k) {
  k = std::min(k, scores.size(-1));
  const at::Tensor kth = std::get<0>(at::topk(scores, k)).select(-1, k - 1).unsqueeze(-1);
  return scores.masked_fill(scores < kth, kRemoved);
}

at::Tensor top_p(const at::Tensor& scores, double top_p) {
  const auto [sorted, order] = at::sort(scores, /*dim=*/-1, /*descending=*/false);
  const at::Tensor cumulative = sorted.softmax(-1).cumsum(-1);
  at::Tensor sorted_remove = cumulative <= (1 - top_p);
  sorted_remove.select(-1, scores.size(-1) - 1).fill_(false);
  const at::Tensor remove = sorted_remove.scatter(-1, order, sorted_remove);
  return scores.masked_fill(remove, kRemoved);
}

at::Tensor min_p(const at::Tensor& scores, double min_p) {
  const at::Tensor probs = scores.softmax(-1);
  const at::Tensor top = std::get<0>(probs.max(-1, /*keepdim=*/true));
  const at::Tensor remove = probs < top * min_p;
  // HF also argsorts to spare the first min_tokens_to_keep (1) tokens: that one is a most likely
  // token, whose probability equals `top` and so is never below top · min_p (min_p <= 1).
  return scores.masked_fill(remove, kRemoved);
}

}  // namespace trimvl::logits
