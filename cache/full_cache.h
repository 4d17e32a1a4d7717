#pragma once
// The cache that keeps everything (no eviction): the baseline retention policies are measured
// against, and the reference the model's parity tests run with.
//
// Per layer, K and V live in one [H_kv, capacity, D] buffer each, filled from the front; a forward
// writes its tokens behind the committed ones and attends over the prefix. Capacity doubles when a
// forward does not fit, so appending is amortised O(T) rather than a full copy per decode step.
// Attention is at::scaled_dot_product_attention with GQA; when a forward of several tokens follows
// earlier ones, the causal mask is built explicitly, because SDPA's is_causal aligns the triangle
// to the top-left corner (query i would see keys 0..i) instead of to the end (past + i).
#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "cache/kv_cache.h"

namespace trimvl::cache {

class FullCache final : public KvCache {
 public:
  explicit FullCache(int num_layers);

  int num_layers() const override { return static_cast<int>(layers_.size()); }
  int64_t seen_tokens() const override { return seen_; }
  void begin_forward(const ForwardTokens& tokens) override;
  at::Tensor attend(int layer, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& log_beta, double scale) override;
  void end_forward() override;
  void abort_forward() noexcept override;
  void reset() override;

  // The keys / values a layer holds, [H_kv, seen_tokens(), D] (undefined before the first forward).
  at::Tensor keys(int layer) const;
  at::Tensor values(int layer) const;
  // Metadata of every token seen, in stream order.
  const std::vector<TokenInfo>& tokens() const { return tokens_; }

 private:
  struct Layer {
    at::Tensor k, v;  // [H_kv, capacity, D]; undefined until the first attend
    bool attended = false;  // in the current forward
  };
  // Makes room for `needed` tokens, keeping the first seen_.
  void reserve(Layer& layer, int64_t needed, const at::Tensor& like);

  std::vector<Layer> layers_;
  std::vector<TokenInfo> tokens_;
  int64_t seen_ = 0;
  int64_t pending_ = -1;  // tokens of the forward in progress; -1 outside a forward
  at::Tensor mask_;       // the forward's causal mask, built by its first attend when needed
};

}  // namespace trimvl::cache
