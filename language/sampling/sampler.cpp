#include "language/sampling/sampler.h"

#include <random>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/error.h"
#include "kernels/runtime/generator.h"
#include "language/sampling/logits_processors.h"

namespace trimvl {
namespace {

uint64_t random_seed() {
  std::random_device device;
  return (uint64_t{device()} << 32) | device();
}

}  // namespace

Sampler::Sampler(SamplingParams params) : params_(params), seed_(params.seed.value_or(random_seed())) {
  params_.validate();
}

void Sampler::observe(std::span<const int32_t> ids) {
  if (params_.repetition_penalty != 1.0) pending_.insert(pending_.end(), ids.begin(), ids.end());
}

void Sampler::flush_observed(int64_t vocab, c10::Device device) {
  if (!seen_.defined()) seen_ = at::zeros({vocab}, at::TensorOptions(at::kBool).device(device));
  TRIMVL_CHECK_ARG(seen_.size(0) == vocab && seen_.device() == device,
                   "sampling: logits of {} tokens on {} after logits of {} tokens on {} in the same sequence", vocab,
                   device.str(), seen_.size(0), seen_.device().str());
  if (pending_.empty()) return;
  for (const int32_t id : pending_)
    TRIMVL_CHECK_ARG(id >= 0 && id < vocab, "sampling: token id {} is outside the model's vocabulary of {}", id, vocab);
  const at::Tensor ids = at::tensor(at::ArrayRef<int32_t>(pending_), at::kLong).to(device);
  seen_.index_fill_(0, ids, true);
  pending_.clear();
}

at::Tensor Sampler::scores_of(const at::Tensor& logits) {
  TRIMVL_CHECK_ARG(logits.defined() && at::isFloatingType(logits.scalar_type()) && logits.numel() > 0 &&
                       (logits.dim() == 1 || (logits.dim() == 2 && logits.size(0) == 1)),
                   "sampling: logits must be a non-empty floating-point (vocab) or (1, vocab) tensor, got {}",
                   logits.defined() ? fmt::format("{} [{}]", c10::toString(logits.scalar_type()),
                                                  fmt::join(logits.sizes(), ", "))
                                    : std::string("an undefined tensor"));
  // HF processes the (batch, vocab) float32 copy generate() makes of the last position's logits.
  at::Tensor scores = logits.to(at::kFloat, /*non_blocking=*/false, /*copy=*/true).reshape({1, -1});
  const int64_t vocab = scores.size(1);
  if (params_.repetition_penalty != 1.0) {
    flush_observed(vocab, scores.device());
    scores = logits::repetition_penalty(scores, seen_, params_.repetition_penalty);
  }
  if (params_.sampling()) {
    if (params_.temperature != 1.0) scores = logits::temperature(scores, params_.temperature);
    if (params_.top_k != 0) scores = logits::top_k(scores, params_.top_k);
    if (params_.top_p < 1.0) scores = logits::top_p(scores, params_.top_p);
    if (params_.min_p) scores = logits::min_p(scores, *params_.min_p);
  }
  return scores;
}

at::Tensor Sampler::process(const at::Tensor& logits) { return scores_of(logits).view({-1}); }

int32_t Sampler::sample(const at::Tensor& logits) {
  const at::Tensor scores = scores_of(logits);
  at::Tensor next;
  if (params_.sampling()) {
    if (!generator_.defined()) generator_ = seeded_generator(scores.device(), seed_);
    TRIMVL_CHECK_ARG(generator_.device() == scores.device(),
                     "sampling: logits on {} after logits on {} in the same sequence", scores.device().str(),
                     generator_.device().str());
    next = at::multinomial(scores.softmax(-1), 1, /*replacement=*/false, generator_).view({1});
  } else {
    next = scores.argmax(-1);
  }
  if (params_.repetition_penalty != 1.0) seen_.index_fill_(0, next, true);
  return static_cast<int32_t>(next.item<int64_t>());
}

}  // namespace trimvl
