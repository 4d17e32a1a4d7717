#pragma once
// `lm_head`: hidden states to vocabulary logits, without bias. Its weight is lm_head.weight, or
// embed_tokens.weight when text_config.tie_word_embeddings is true (the 4B ties, the 8B does not).
#include <utility>

#include <ATen/core/Tensor.h>

namespace trimvl::qwen3vl {

class LmHead {
 public:
  explicit LmHead(at::Tensor weight) : weight_(std::move(weight)) {}  // [vocab, hidden]

  // hidden: [T, hidden] -> logits [T, vocab] in the model's dtype. Generation passes only the last
  // position; scoring passes all.
  at::Tensor operator()(const at::Tensor& hidden) const;

  const at::Tensor& weight() const { return weight_; }

 private:
  at::Tensor weight_;
};

}  // namespace trimvl::qwen3vl
