#include "language/qwen3vl/text_decoder_layer.h"

#include <type_traits>

#include <ATen/ATen.h>

namespace trimvl::qwen3vl {

// set_gate's noexcept promise rests on this.
static_assert(std::is_nothrow_move_assignable_v<std::optional<cache::RetentionGate>>);

TextDecoderLayer::TextDecoderLayer(const TextConfig& config, const io::WeightLoader::Scope& layer, int index)
    : input_layernorm_(layer.scope("input_layernorm"), config.hidden_size, config.rms_norm_eps),
      self_attn_(config, layer.scope("self_attn"), index),
      post_attention_layernorm_(layer.scope("post_attention_layernorm"), config.hidden_size, config.rms_norm_eps),
      mlp_(config, layer.scope("mlp")) {}

at::Tensor HiddenState::materialise() const { return delta.defined() ? residual + delta : residual; }

ops::ResidualNorm HiddenState::add_and_norm(const RmsNorm& norm) const {
  if (!delta.defined()) return {residual, norm(residual)};
  return norm.add_and_norm(residual, delta);
}

HiddenState TextDecoderLayer::operator()(const HiddenState& x, const RotaryTables& rope, cache::KvCache& cache) const {
  const ops::ResidualNorm in = x.add_and_norm(input_layernorm_);
  // One gate call over all of the forward's tokens.
  const at::Tensor log_beta = gate_ ? (*gate_)(in.normed) : at::Tensor();
  // The residual add and the post-attention norm are one kernel on CUDA.
  const ops::ResidualNorm h =
      post_attention_layernorm_.add_and_norm(in.sum, self_attn_(in.normed, rope, cache, log_beta));
  return {h.sum, mlp_(h.normed)};
}

}  // namespace trimvl::qwen3vl
