#include "cache/full_cache.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "kernels/runtime/error.h"

namespace trimvl::cache {

FullCache::FullCache(int num_layers) : layers_(static_cast<size_t>(std::max(num_layers, 0))) {
  TRIMVL_CHECK_ARG(num_layers > 0, "a KV cache needs at least one layer, got {}", num_layers);
}

void FullCache::begin_forward(const ForwardTokens& tokens) {
  TRIMVL_CHECK(pending_ < 0, "begin_forward while a forward of {} tokens is open", pending_);
  TRIMVL_CHECK(tokens.size() > 0, "a forward must append at least one token");
  pending_ = tokens.size();
  tokens_.insert(tokens_.end(), tokens.info.begin(), tokens.info.end());
}

void FullCache::reserve(Layer& layer, int64_t needed, const at::Tensor& like) {
  const int64_t capacity = layer.k.defined() ? layer.k.size(1) : 0;
  if (needed <= capacity) return;
  const int64_t grown = std::max(needed, 2 * capacity);
  const auto options = like.options();
  at::Tensor k = at::empty({like.size(1), grown, like.size(2)}, options);
  at::Tensor v = at::empty_like(k);
  if (seen_ > 0) {
    k.narrow(1, 0, seen_).copy_(layer.k.narrow(1, 0, seen_));
    v.narrow(1, 0, seen_).copy_(layer.v.narrow(1, 0, seen_));
  }
  layer.k = std::move(k);
  layer.v = std::move(v);
}

at::Tensor FullCache::attend(int layer_index, const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& log_beta, double scale) {
  TRIMVL_CHECK(pending_ > 0, "attend outside a forward");
  TRIMVL_CHECK(layer_index >= 0 && layer_index < num_layers(), "layer {} of a {}-layer cache", layer_index,
               num_layers());
  Layer& layer = layers_[static_cast<size_t>(layer_index)];
  TRIMVL_CHECK(!layer.attended, "layer {} attended twice in one forward", layer_index);
  TRIMVL_CHECK(q.dim() == 3 && k.dim() == 3 && v.sizes() == k.sizes() && q.size(0) == pending_ &&
                   k.size(0) == pending_ && q.size(2) == k.size(2) && k.size(1) > 0 && q.size(1) % k.size(1) == 0,
               "attend: q {} and k/v {} / {} are not [T, H_q, D] and [T, H_kv, D] with T = {} and H_kv dividing H_q",
               q.sizes(), k.sizes(), v.sizes(), pending_);
  TRIMVL_CHECK(q.scalar_type() == k.scalar_type() && k.scalar_type() == v.scalar_type() &&
                   q.device() == k.device() && k.device() == v.device(),
               "attend: q, k, v differ in dtype or device");
  TRIMVL_CHECK(!log_beta.defined() || log_beta.sizes() == k.sizes().slice(0, 2),
               "attend: log_beta {} is not [T, H_kv]", log_beta.sizes());
  if (layer.k.defined())
    TRIMVL_CHECK(layer.k.size(0) == k.size(1) && layer.k.size(2) == k.size(2) &&
                     layer.k.scalar_type() == k.scalar_type() && layer.k.device() == k.device(),
                 "attend: layer {} holds [{}, *, {}] {} keys, got [*, {}, {}] {}", layer_index, layer.k.size(0),
                 layer.k.size(2), c10::toString(layer.k.scalar_type()), k.size(1), k.size(2),
                 c10::toString(k.scalar_type()));

  const int64_t past = seen_, total = seen_ + pending_;
  reserve(layer, total, k);
  layer.k.narrow(1, past, pending_).copy_(k.transpose(0, 1));
  layer.v.narrow(1, past, pending_).copy_(v.transpose(0, 1));
  layer.attended = true;

  // [1, H, tokens, D] views for SDPA.
  const at::Tensor query = q.transpose(0, 1).unsqueeze(0);
  const at::Tensor keys = layer.k.narrow(1, 0, total).unsqueeze(0);
  const at::Tensor values = layer.v.narrow(1, 0, total).unsqueeze(0);
  std::optional<at::Tensor> mask;
  if (past > 0 && pending_ > 1) {  // new token i sees keys 0 .. past + i; the same for every layer
    if (!mask_.defined()) {
      const auto positions = at::TensorOptions().dtype(at::kLong).device(q.device());
      mask_ = at::arange(total, positions).unsqueeze(0) <= (at::arange(pending_, positions) + past).unsqueeze(1);
    }
    mask = mask_;
  }
  const bool causal = past == 0 && pending_ > 1;
  const at::Tensor out = at::scaled_dot_product_attention(query, keys, values, mask, 0.0, causal, scale,
                                                          /*enable_gqa=*/q.size(1) != k.size(1));
  return out.squeeze(0).transpose(0, 1);
}

void FullCache::end_forward() {
  TRIMVL_CHECK(pending_ > 0, "end_forward outside a forward");
  for (size_t i = 0; i < layers_.size(); ++i)
    TRIMVL_CHECK(layers_[i].attended, "end_forward: layer {} was not attended", i);
  seen_ += pending_;
  pending_ = -1;
  mask_ = at::Tensor();
  for (Layer& layer : layers_) layer.attended = false;
}

void FullCache::abort_forward() noexcept {
  if (pending_ < 0) return;
  // What the forward wrote lies beyond seen_ and is overwritten by the next one.
  tokens_.resize(static_cast<size_t>(seen_));
  pending_ = -1;
  mask_ = at::Tensor();
  for (Layer& layer : layers_) layer.attended = false;
}

void FullCache::reset() {
  TRIMVL_CHECK(pending_ < 0, "reset during a forward");
  for (Layer& layer : layers_) layer = Layer{};
  tokens_.clear();
  seen_ = 0;
}

at::Tensor FullCache::keys(int layer) const {
  TRIMVL_CHECK(layer >= 0 && layer < num_layers(), "layer {} of a {}-layer cache", layer, num_layers());
  const Layer& l = layers_[static_cast<size_t>(layer)];
  return l.k.defined() ? l.k.narrow(1, 0, seen_) : at::Tensor();
}

at::Tensor FullCache::values(int layer) const {
  TRIMVL_CHECK(layer >= 0 && layer < num_layers(), "layer {} of a {}-layer cache", layer, num_layers());
  const Layer& l = layers_[static_cast<size_t>(layer)];
  return l.v.defined() ? l.v.narrow(1, 0, seen_) : at::Tensor();
}

}  // namespace trimvl::cache
