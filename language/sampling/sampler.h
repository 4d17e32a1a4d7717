#pragma once
// Next-token selection for one sequence: transformers 4.57.1 generate()'s logits processing and
// draw (GenerationMixin._sample) on the logits' own device.
//
// Reproducibility. The random draw is torch.multinomial(softmax(scores), 1) with a generator of
// the logits' device seeded with the seed, and nothing else draws from it. So:
//  - the same seed, logits and device give the same tokens on every run;
//  - given bit-identical logits, the tokens equal HF generate()'s after torch.manual_seed(seed) on
//    the same device type (HF then draws from the default generator in the same way; tested on the
//    CPU against recorded HF runs). CPU and CUDA streams differ from each other, and logits that
//    differ in the last bit can change a draw, so two implementations of the model only agree
//    token for token in greedy mode.
#include <cstdint>
#include <span>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>

#include "language/sampling/sampling_params.h"

namespace trimvl {

class Sampler {
 public:
  // Validates `params` (SamplingParams::validate). Without a seed one is drawn from
  // std::random_device; seed() tells which, so a run can be repeated.
  explicit Sampler(SamplingParams params);

  // Ids that count as already generated for the repetition penalty: the prompt (HF penalizes
  // every token of input_ids, vision pads and template tokens included), before the first sample().
  void observe(std::span<const int32_t> ids);

  // The scores after the processors: HF's LogitsProcessorList output for a float32 copy of
  // `logits` ((vocab) or (1, vocab), any floating dtype and device). Returns (vocab) float32.
  at::Tensor process(const at::Tensor& logits);

  // The next token: argmax of process() (the first of equal maxima) when greedy, else a draw from
  // its softmax. The token is then observed.
  int32_t sample(const at::Tensor& logits);

  const SamplingParams& params() const { return params_; }
  uint64_t seed() const { return seed_; }

 private:
  at::Tensor scores_of(const at::Tensor& logits);
  void flush_observed(int64_t vocab, c10::Device device);

  SamplingParams params_;
  uint64_t seed_;
  std::vector<int32_t> pending_;  // observed, not yet in seen_
  at::Tensor seen_;               // bool (vocab) on the logits' device, once logits arrived
  at::Generator generator_;       // on the logits' device, from the first draw
};

}  // namespace trimvl
