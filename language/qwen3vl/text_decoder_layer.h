#pragma once
// Qwen3VLTextDecoderLayer (`layers.{i}`), pre-norm with residual adds in the activation dtype:
//   h = x + self_attn(input_layernorm(x));  out = h + mlp(post_attention_layernorm(h))
// The last add is left to the next norm (HiddenState), which does it in the same launch on CUDA.
// With a retention gate (trimkv's TrimKVQwen3VLTextDecoderLayer), the gate reads the same
// normalised tensor q/k/v are projected from — after DeepStack's additions for the layers that
// follow them — and its log β goes to the cache with the layer's keys and values.
#include <optional>
#include <utility>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "cache/gate_checkpoint.h"
#include "cache/kv_cache.h"
#include "cache/retention_gate.h"
#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/rms_norm.h"
#include "language/qwen3vl/rotary.h"
#include "language/qwen3vl/text_attention.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_mlp.h"

namespace trimvl::qwen3vl {

// The hidden state between decoder layers as the residual stream and the last MLP output not yet
// added to it: the next input_layernorm (or the final norm) adds them in its own launch on CUDA,
// with the same rounding as HF's `hidden = residual + mlp(...)` followed by the norm. `delta`
// undefined: the stream is `residual` alone (the embeddings, or a state DeepStack has added to).
struct HiddenState {
  at::Tensor residual, delta;

  at::Tensor materialise() const;
  // sum = residual + delta, and its norm by `norm` (one launch on CUDA).
  ops::ResidualNorm add_and_norm(const RmsNorm& norm) const;
};

class TextDecoderLayer {
 public:
  // Starts without a retention gate (TextModel::set_gates gives it one).
  TextDecoderLayer(const TextConfig& config, const io::WeightLoader::Scope& layer, int index);

  HiddenState operator()(const HiddenState& x, const RotaryTables& rope, cache::KvCache& cache) const;

  // This layer's retention gate (in the model's dtype and device), or none. Cannot throw, so a
  // model can swap all its layers' gates or none.
  void set_gate(std::optional<cache::RetentionGate> gate) noexcept { gate_ = std::move(gate); }

 private:
  RmsNorm input_layernorm_;
  std::optional<cache::RetentionGate> gate_;
  TextAttention self_attn_;
  RmsNorm post_attention_layernorm_;
  TextMlp mlp_;
};

}  // namespace trimvl::qwen3vl
