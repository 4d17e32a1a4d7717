#pragma once
// Qwen3VLTextModel (`model.language_model`): embed_tokens, the decoder layers, the final norm, and
// DeepStack: visual features from intermediate vision blocks added to the hidden states at the
// visual token positions after decoder layers 0 .. k-1.
//
// Batch size 1: a forward takes the T new tokens of one sequence as [T, hidden]. The KV cache holds
// everything earlier (see cache/kv_cache.h); the model never stores K/V itself. The embedding
// lookup is separate from forward() so the multimodal pipeline can scatter visual embeddings into
// the token embeddings in between.
//
// With retention gates (a trimkv gate checkpoint), every layer also computes log β for its new
// tokens and hands it to the cache (see text_decoder_layer.h); without, the cache gets none.
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "cache/gate_checkpoint.h"
#include "cache/kv_cache.h"
#include "kernels/io/weight_loader.h"
#include "language/qwen3vl/rms_norm.h"
#include "language/qwen3vl/rotary.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_decoder_layer.h"

namespace trimvl::qwen3vl {

// The DeepStack part of a forward that contains visual tokens (prefill only; decode steps have none).
struct DeepstackInputs {
  at::Tensor visual_mask;            // [T] bool: which of the forward's tokens are image/video pads
  std::vector<at::Tensor> features;  // per level k, [visual tokens, hidden] in token order, added
                                     // after decoder layer k; at most num_hidden_layers levels
};

class TextModel {
 public:
  // `language_model` is the scope "model.language_model"; the model runs in the loader's dtype and
  // device. Rejects configs it cannot run (a rope type other than default, an activation other than
  // silu, attention biases) as Unsupported. `gates` (optional; copied to the model's dtype and
  // device) must have been loaded with gate_spec(config)'s sizes: gates for another model are an
  // InvalidInput naming both files, raised before the model's weights are read.
  TextModel(const TextConfig& config, const io::WeightLoader::Scope& language_model,
            const cache::GateCheckpoint* gates = nullptr);

  // Replaces the retention gates (null: none) of every layer, as the constructor installs them, so
  // a loaded model can serve another KV policy. Gates that do not fit are refused as the
  // constructor refuses them; on any error the model keeps the gates it had.
  void set_gates(const cache::GateCheckpoint* gates);

  // A checkpoint's gates placed in the model's dtype and on its device, one per layer (refused as
  // set_gates refuses them): placed once, then installed by set_gates as often as a sweep switches
  // policies, without another copy — and with the same device tensors each time.
  using PlacedGates = std::vector<cache::RetentionGate>;
  std::shared_ptr<const PlacedGates> place_gates(const cache::GateCheckpoint& gates) const;
  // Installs placed gates (null: none) in every layer; the layers share their tensors.
  void set_gates(std::shared_ptr<const PlacedGates> gates);

  // What a gate checkpoint must fit to run in this model (load_gate_checkpoint's spec), without the
  // gate directory's own fields (type, intermediate size, tying), which its config.json supplies.
  static cache::GateSpec gate_spec(const TextConfig& config);

  // ids: [T] int64, each below vocab_size -> [T, hidden] in the model's dtype and device.
  at::Tensor embed(const at::Tensor& ids) const;

  // inputs_embeds: [T, hidden] in the model's dtype and device. position_ids: [3, T] int64 on the
  // CPU, the (t, h, w) M-RoPE rows (host data: get_rope_index runs on the host, and the length
  // check below needs their values). tokens: the cache metadata of the T tokens. Returns the final
  // normalised hidden states [T, hidden] (HF's last_hidden_state), and appends the tokens to the
  // cache; on an exception the cache is left as it was.
  // Errors (InvalidInput): shapes, dtypes or devices that do not fit, a position beyond
  // max_position_embeddings (a prompt too long for the model), DeepStack features that do not
  // match the mask.
  at::Tensor forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                     const cache::ForwardTokens& tokens, cache::KvCache& cache,
                     const DeepstackInputs* deepstack = nullptr) const;

  // The device work of a one-token decode forward whose input checks and cache transaction the
  // caller owns (DecodeGraph, which captures it in a CUDA graph): every layer and the final norm,
  // with no host synchronisation. position_ids: [3, 1] int64 on the model's device.
  at::Tensor decode_layers(const at::Tensor& inputs_embeds, const at::Tensor& position_ids, cache::KvCache& cache) const;

  const at::Tensor& embed_tokens() const { return embed_tokens_; }  // [vocab, hidden]
  const TextConfig& config() const { return config_; }
  bool has_gates() const { return has_gates_; }
  c10::ScalarType dtype() const { return embed_tokens_.scalar_type(); }
  c10::Device device() const { return embed_tokens_.device(); }

 private:
  void check_inputs(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                    const cache::ForwardTokens& tokens, const cache::KvCache& cache,
                    const DeepstackInputs* deepstack) const;

  TextConfig config_;
  at::Tensor embed_tokens_;
  std::vector<TextDecoderLayer> layers_;
  RmsNorm norm_;
  Rotary rotary_;
  bool has_gates_ = false;
};

}  // namespace trimvl::qwen3vl
