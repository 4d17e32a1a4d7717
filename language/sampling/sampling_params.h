#pragma once
// How the next token is chosen, with the meaning transformers 4.57.1's generate() gives each field
// (GenerationConfig defaults; see logits_processors.h for each step's exact semantics).
#include <cstdint>
#include <optional>

namespace trimvl {

struct SamplingParams {
  bool do_sample = false;           // false: greedy (argmax), every warper below is skipped
  double temperature = 1.0;         // > 0 divides the scores; 0 means greedy whatever do_sample says
  int64_t top_k = 50;               // keep the k highest scores (ties with the k-th kept); 0: off
  double top_p = 1.0;               // keep the smallest high-probability set of mass >= top_p; 1: off
  std::optional<double> min_p;      // drop tokens with probability < min_p · the top probability
  double repetition_penalty = 1.0;  // > 0; applies in greedy mode too; 1: off
  std::optional<uint64_t> seed;     // sampling RNG seed; unset: a fresh random one

  // Whether the warpers (temperature, top-k, top-p, min-p) and the random draw run.
  bool sampling() const { return do_sample && temperature != 0.0; }
  // Throws Error(InvalidInput) naming the field: temperature < 0 (or not finite), top_k < 0,
  // top_p outside (0, 1], min_p outside [0, 1], repetition_penalty <= 0 (or not finite).
  void validate() const;
};

}  // namespace trimvl
