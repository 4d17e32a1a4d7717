#include "language/qwen3vl/text_model.h"

#include <optional>
#include <utility>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/runtime/error.h"

namespace trimvl::qwen3vl {
namespace {

const TextConfig& supported(const TextConfig& c) {
  const auto unsupported = [&](const std::string& what) {
    return Error(fmt::format("text_config: {} is not supported by trimvl's Qwen3-VL decoder", what),
                 Error::Kind::Unsupported).file(c.source);
  };
  if (c.rope_type != "default") throw unsupported(fmt::format("rope_type '{}'", c.rope_type));
  if (c.hidden_act != "silu") throw unsupported(fmt::format("hidden_act '{}'", c.hidden_act));
  if (c.attention_bias) throw unsupported("attention_bias true");
  return c;
}

// Gates loaded against another spec (another model's sizes, an LLM's tensor names) would fail at
// the first forward or, worse, run; this refuses them by the numbers the checkpoint was checked for.
const TextConfig& fits(const TextConfig& c, const cache::GateCheckpoint* gates) {
  if (!gates) return c;
  const auto mismatch = [&](const std::string& gate_side, const std::string& model_side) {
    return Error(fmt::format("retention gates {} cannot run in this model: {} {}", gate_side, c.source, model_side))
        .file(gates->path.string());
  };
  const std::string prefix = TextModel::gate_spec(c).layer_prefix;
  if (gates->layer_prefix != prefix)
    throw mismatch(fmt::format("named '{}{{i}}...'", gates->layer_prefix),
                   fmt::format("names its decoder layers '{}{{i}}...'", prefix));
  if (gates->num_layers() != c.num_hidden_layers)
    throw mismatch(fmt::format("for {} layers", gates->num_layers()),
                   fmt::format("has num_hidden_layers {}", c.num_hidden_layers));
  if (gates->hidden_size != c.hidden_size)
    throw mismatch(fmt::format("for hidden size {}", gates->hidden_size), fmt::format("has hidden_size {}", c.hidden_size));
  if (gates->num_kv_heads != c.num_key_value_heads)
    throw mismatch(fmt::format("scoring {} KV heads", gates->num_kv_heads),
                   fmt::format("has num_key_value_heads {}", c.num_key_value_heads));
  return c;
}

std::string dtype_and_device(const at::Tensor& t) {
  return fmt::format("{} on {}", c10::toString(t.scalar_type()), t.device().str());
}

}  // namespace

TextModel::TextModel(const TextConfig& config, const io::WeightLoader::Scope& language_model,
                     const cache::GateCheckpoint* gates)
    : config_(fits(supported(config), gates)),
      embed_tokens_(language_model.scope("embed_tokens").take("weight", {config.vocab_size, config.hidden_size})),
      norm_(language_model.scope("norm"), config.hidden_size, config.rms_norm_eps),
      rotary_(config, embed_tokens_.device()) {
  const auto layers = language_model.scope("layers");
  layers_.reserve(static_cast<size_t>(config.num_hidden_layers));
  for (int i = 0; i < config.num_hidden_layers; ++i) layers_.emplace_back(config, layers.scope(i), i);
  set_gates(gates);
}

void TextModel::set_gates(const cache::GateCheckpoint* gates) { set_gates(gates ? place_gates(*gates) : nullptr); }

std::shared_ptr<const TextModel::PlacedGates> TextModel::place_gates(const cache::GateCheckpoint& gates) const {
  fits(config_, &gates);
  auto placed = std::make_shared<PlacedGates>();
  placed->reserve(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) placed->emplace_back(gates.layers[i], dtype(), device());
  return placed;
}

void TextModel::set_gates(std::shared_ptr<const PlacedGates> gates) {
  // Checked before any layer changes: a model is never half gated.
  TRIMVL_CHECK(!gates || gates->size() == layers_.size(), "{} placed retention gates for {} layers", gates->size(),
               layers_.size());
  std::vector<std::optional<cache::RetentionGate>> copies(layers_.size());  // (copies share tensors)
  if (gates)
    for (size_t i = 0; i < layers_.size(); ++i) copies[i].emplace((*gates)[i]);
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i].set_gate(std::move(copies[i]));
  has_gates_ = gates != nullptr;
}

cache::GateSpec TextModel::gate_spec(const TextConfig& config) {
  cache::GateSpec spec;
  spec.layer_prefix = "model.language_model.layers.";
  spec.num_layers = config.num_hidden_layers;
  spec.hidden_size = config.hidden_size;
  spec.num_kv_heads = config.num_key_value_heads;
  spec.base_source = config.source;
  return spec;
}

at::Tensor TextModel::embed(const at::Tensor& ids) const {
  TRIMVL_CHECK_ARG(ids.defined() && ids.dim() == 1 && ids.scalar_type() == at::kLong,
                   "token ids must be a 1-D int64 tensor, got {}", ids.defined() ? dtype_and_device(ids) : "none");
  if (ids.numel() > 0) {
    // Checked here: an out-of-range id on a GPU is a device-side assert, which ends the process.
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    TRIMVL_CHECK_ARG(lo >= 0 && hi < config_.vocab_size, "token id {} is outside the vocabulary [0, {})",
                     lo < 0 ? lo : hi, config_.vocab_size);
  }
  return at::embedding(embed_tokens_, ids.to(device()));
}

void TextModel::check_inputs(const at::Tensor& embeds, const at::Tensor& positions, const cache::ForwardTokens& tokens,
                             const cache::KvCache& cache, const DeepstackInputs* deepstack) const {
  TRIMVL_CHECK_ARG(embeds.defined() && embeds.dim() == 2 && embeds.size(0) > 0 &&
                       embeds.size(1) == config_.hidden_size,
                   "inputs_embeds must be [T, {}] with T >= 1, got {}", config_.hidden_size,
                   embeds.defined() ? fmt::format("{}", embeds.sizes()) : "none");
  TRIMVL_CHECK_ARG(embeds.scalar_type() == dtype() && embeds.device() == device(),
                   "inputs_embeds are {}, the model runs in {}", dtype_and_device(embeds),
                   dtype_and_device(embed_tokens_));
  const int64_t count = embeds.size(0);
  TRIMVL_CHECK_ARG(positions.defined() && positions.dim() == 2 && positions.size(0) == 3 &&
                       positions.size(1) == count && positions.scalar_type() == at::kLong && positions.is_cpu(),
                   "position_ids must be [3, {}] int64 on the CPU, got {}", count,
                   positions.defined() ? fmt::format("{} {}", positions.sizes(), dtype_and_device(positions)) : "none");
  TRIMVL_CHECK_ARG(tokens.size() == count, "{} token metadata entries for {} tokens", tokens.size(), count);
  TRIMVL_CHECK_ARG(cache.num_layers() == config_.num_hidden_layers, "the KV cache has {} layers, the model {}",
                   cache.num_layers(), config_.num_hidden_layers);
  const int64_t lo = positions.min().item<int64_t>(), hi = positions.max().item<int64_t>();
  TRIMVL_CHECK_ARG(lo >= 0, "negative position id {}", lo);
  if (hi >= config_.max_position_embeddings)
    throw Error(fmt::format("position {} is beyond text_config.max_position_embeddings {}: the input is too long "
                            "for this model", hi, config_.max_position_embeddings)).file(config_.source);
  if (!deepstack) return;
  const at::Tensor& mask = deepstack->visual_mask;
  TRIMVL_CHECK_ARG(mask.defined() && mask.dim() == 1 && mask.size(0) == count && mask.scalar_type() == at::kBool,
                   "the DeepStack visual mask must be [{}] bool, got {}", count,
                   mask.defined() ? fmt::format("{} {}", mask.sizes(), c10::toString(mask.scalar_type())) : "none");
  const auto levels = static_cast<int64_t>(deepstack->features.size());
  TRIMVL_CHECK_ARG(levels <= config_.num_hidden_layers, "{} DeepStack levels for {} decoder layers", levels,
                   config_.num_hidden_layers);
  const int64_t visual = mask.sum().item<int64_t>();
  for (int64_t k = 0; k < levels; ++k) {
    const at::Tensor& f = deepstack->features[static_cast<size_t>(k)];
    TRIMVL_CHECK_ARG(f.defined() && f.dim() == 2 && f.size(0) == visual && f.size(1) == config_.hidden_size &&
                         at::isFloatingType(f.scalar_type()),
                     "DeepStack level {} must be [{}, {}] floating point (one row per visual token), got {}", k,
                     visual, config_.hidden_size, f.defined() ? fmt::format("{}", f.sizes()) : "none");
  }
}

at::Tensor TextModel::forward(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                              const cache::ForwardTokens& tokens, cache::KvCache& cache,
                              const DeepstackInputs* deepstack) const {
  check_inputs(inputs_embeds, position_ids, tokens, cache, deepstack);
  const RotaryTables rope = rotary_.tables(position_ids.to(device()), dtype());
  at::Tensor visual_rows;
  if (deepstack && !deepstack->features.empty())
    visual_rows = deepstack->visual_mask.to(device()).nonzero().squeeze(1);

  cache::ForwardScope scope(cache, tokens);
  HiddenState hidden{inputs_embeds, {}};
  for (size_t i = 0; i < layers_.size(); ++i) {
    hidden = layers_[i](hidden, rope, cache);
    if (visual_rows.defined() && i < deepstack->features.size()) {
      // The materialised state is a fresh tensor, so adding in place touches no caller's data. One
      // add per element, in the activation dtype, as HF's gather-add-scatter does.
      at::Tensor state = hidden.materialise();
      state.index_add_(0, visual_rows, deepstack->features[i].to(device(), dtype()));
      hidden = {state, {}};
    }
  }
  scope.commit();
  return hidden.add_and_norm(norm_).normed;
}

at::Tensor TextModel::decode_layers(const at::Tensor& inputs_embeds, const at::Tensor& position_ids,
                                    cache::KvCache& cache) const {
  const RotaryTables rope = rotary_.tables(position_ids, dtype());
  HiddenState hidden{inputs_embeds, {}};
  for (const TextDecoderLayer& layer : layers_) hidden = layer(hidden, rope, cache);
  return hidden.add_and_norm(norm_).normed;
}

}  // namespace trimvl::qwen3vl
