#pragma once
// The logits processors and warpers of transformers 4.57.1 generate() that trimvl supports, one
// function each, on a float32 score vector (vocab,) or (1, vocab) on any device. Each performs the
// ATen operations HF's class performs, in the same order, so on the same device the results are
// bit-identical to HF's, ties included: where HF sorts (top-p), the order of equal scores is
// whatever that same sort gives (on small CPU vectors, by index).
//
// generate() applies them in this order (GenerationMixin._get_logits_processor):
//   repetition penalty (also when greedy) → [sampling only] temperature → top-k → top-p → min-p.
// Removed tokens get −inf. Beam search is not supported, so HF's min_tokens_to_keep is always 1.
#include <cstdint>

#include <ATen/core/Tensor.h>

namespace trimvl::logits {

// RepetitionPenaltyLogitsProcessor: every token id seen so far (prompt included; `seen` is a bool
// mask over the vocabulary) has its score divided by `penalty` where it is positive and multiplied
// where it is negative, so penalty > 1 discourages repeats and < 1 encourages them.
at::Tensor repetition_penalty(const at::Tensor& scores, const at::Tensor& seen, double penalty);

// TemperatureLogitsWarper: scores / temperature.
at::Tensor temperature(const at::Tensor& scores, double temperature);

// TopKLogitsWarper: removes scores below the k-th largest (all ties with it survive); k larger
// than the vocabulary keeps everything.
at::Tensor top_k(const at::Tensor& scores, int64_t k);

// TopPLogitsWarper: sorts ascending, removes the tokens whose cumulative probability (from the
// least likely) is <= 1 − top_p, and always keeps the most likely one. What survives is the
// smallest set of most likely tokens whose mass reaches top_p.
at::Tensor top_p(const at::Tensor& scores, double top_p);

// MinPLogitsWarper: removes tokens whose probability is below min_p times the top probability
// (softmax of the scores as they arrive, i.e. after the earlier warpers); the top token stays.
at::Tensor min_p(const at::Tensor& scores, double min_p);

}  // namespace trimvl::logits
