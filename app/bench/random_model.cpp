#include "app/bench/random_model.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <set>
#include <string>

#include "language/qwen3vl/text_model.h"

namespace trimvl::app {
namespace {

using Init = io::RandomTensor::Init;

class TensorList {
 public:
  void add(std::string name, std::vector<int64_t> shape, Init init = Init::Normal) {
    tensors_.push_back({std::move(name), std::move(shape), init});
  }
  // weight [out, in] and, when asked, bias [out].
  void linear(const std::string& prefix, int64_t in, int64_t out, bool bias) {
    add(prefix + ".weight", {out, in});
    if (bias) add(prefix + ".bias", {out}, Init::Zeros);
  }
  void layer_norm(const std::string& prefix, int64_t dim) {
    add(prefix + ".weight", {dim}, Init::Ones);
    add(prefix + ".bias", {dim}, Init::Zeros);
  }
  std::vector<io::RandomTensor> take() && { return std::move(tensors_); }

 private:
  std::vector<io::RandomTensor> tensors_;
};

}  // namespace

std::vector<io::RandomTensor> qwen3vl_tensors(const qwen3vl::TextConfig& t, const vision::qwen3vl::VisionConfig& v) {
  TensorList list;
  // Vision tower (hf-models-spec §1.4).
  const std::string visual = "model.visual";
  const int64_t d = v.hidden_size;
  list.add(visual + ".patch_embed.proj.weight", {d, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size});
  list.add(visual + ".patch_embed.proj.bias", {d}, Init::Zeros);
  list.add(visual + ".pos_embed.weight", {v.num_position_embeddings, d});
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string block = fmt::format("{}.blocks.{}", visual, i);
    list.layer_norm(block + ".norm1", d);
    list.layer_norm(block + ".norm2", d);
    list.linear(block + ".attn.qkv", d, 3 * d, true);
    list.linear(block + ".attn.proj", d, d, true);
    list.linear(block + ".mlp.linear_fc1", d, v.intermediate_size, true);
    list.linear(block + ".mlp.linear_fc2", v.intermediate_size, d, true);
  }
  const int64_t merged = v.merged_hidden_size();
  const auto merger = [&](const std::string& prefix, int64_t norm_dim) {
    list.layer_norm(prefix + ".norm", norm_dim);
    list.linear(prefix + ".linear_fc1", merged, merged, true);
    list.linear(prefix + ".linear_fc2", merged, v.out_hidden_size, true);
  };
  merger(visual + ".merger", d);  // norm before the 2x2 shuffle
  for (size_t j = 0; j < v.deepstack_visual_indexes.size(); ++j)
    merger(fmt::format("{}.deepstack_merger_list.{}", visual, j), merged);  // norm after it

  // Text decoder (hf-models-spec §2.6).
  const std::string lm = "model.language_model";
  const int64_t h = t.hidden_size, q_dim = t.num_attention_heads * t.head_dim,
                kv_dim = t.num_key_value_heads * t.head_dim;
  list.add(lm + ".embed_tokens.weight", {t.vocab_size, h});
  for (int64_t i = 0; i < t.num_hidden_layers; ++i) {
    const std::string layer = fmt::format("{}.layers.{}", lm, i);
    list.linear(layer + ".self_attn.q_proj", h, q_dim, t.attention_bias);
    list.linear(layer + ".self_attn.k_proj", h, kv_dim, t.attention_bias);
    list.linear(layer + ".self_attn.v_proj", h, kv_dim, t.attention_bias);
    list.linear(layer + ".self_attn.o_proj", q_dim, h, false);
    list.add(layer + ".self_attn.q_norm.weight", {t.head_dim}, Init::Ones);
    list.add(layer + ".self_attn.k_norm.weight", {t.head_dim}, Init::Ones);
    list.linear(layer + ".mlp.gate_proj", h, t.intermediate_size, false);
    list.linear(layer + ".mlp.up_proj", h, t.intermediate_size, false);
    list.linear(layer + ".mlp.down_proj", t.intermediate_size, h, false);
    list.add(layer + ".input_layernorm.weight", {h}, Init::Ones);
    list.add(layer + ".post_attention_layernorm.weight", {h}, Init::Ones);
  }
  list.add(lm + ".norm.weight", {h}, Init::Ones);
  if (!t.tie_word_embeddings) list.add("lm_head.weight", {t.vocab_size, h});
  return std::move(list).take();
}

cache::GateCheckpoint random_gates(cache::GateType type, const qwen3vl::TextConfig& text, c10::ScalarType dtype,
                                   c10::Device device, uint64_t seed) {
  constexpr int64_t kIntermediate = 512;  // every published checkpoint's
  constexpr double kStd = 0.02;
  const cache::GateSpec spec = qwen3vl::TextModel::gate_spec(text);
  // Drawn on the CPU from one seeded generator (the gates are small), then moved.
  at::Generator gen = at::detail::createCPUGenerator(seed);
  const auto normal = [&](std::vector<int64_t> shape) {
    return at::empty(shape, at::kFloat).normal_(0.0, kStd, gen).to(device, dtype);
  };
  const auto zeros = [&](int64_t n) { return at::zeros({n}, at::TensorOptions().dtype(dtype).device(device)); };

  cache::GateCheckpoint gates;
  const bool rg10 = type == cache::GateType::Rg10;
  gates.path = fmt::format("random {} gates (seed {})", cache::gate_type_name(type), seed);
  gates.type = type;
  gates.layer_prefix = spec.layer_prefix;
  gates.hidden_size = spec.hidden_size;
  gates.intermediate_size = kIntermediate;
  gates.num_kv_heads = spec.num_kv_heads;
  gates.dtype = dtype;
  gates.tied = rg10;
  const auto out_bias = [&] {
    return at::empty({spec.num_kv_heads}, at::kFloat).uniform_(2.0, 8.0, gen).to(device, dtype);
  };
  const at::Tensor tied_weight = rg10 ? normal({spec.num_kv_heads, kIntermediate}) : at::Tensor();
  const at::Tensor tied_bias = rg10 ? out_bias() : at::Tensor();
  for (int64_t i = 0; i < spec.num_layers; ++i) {
    cache::GateLayer layer;
    layer.hidden.push_back({normal({kIntermediate, spec.hidden_size}), zeros(kIntermediate)});
    if (rg10) layer.hidden.push_back({normal({kIntermediate, kIntermediate}), zeros(kIntermediate)});
    layer.out_weight = rg10 ? tied_weight : normal({spec.num_kv_heads, kIntermediate});
    layer.out_bias = rg10 ? tied_bias : out_bias();
    gates.layers.push_back(std::move(layer));
  }
  gates.file_tensors = spec.num_layers * (rg10 ? 6 : 4);
  gates.file_bytes = gate_bytes(gates);
  return gates;
}

int64_t gate_bytes(const cache::GateCheckpoint& gates) {
  std::set<const void*> seen;
  int64_t bytes = 0;
  const auto count = [&](const at::Tensor& t) {
    if (t.defined() && seen.insert(t.data_ptr()).second) bytes += static_cast<int64_t>(t.nbytes());
  };
  for (const auto& layer : gates.layers) {
    for (const auto& linear : layer.hidden) {
      count(linear.weight);
      count(linear.bias);
    }
    count(layer.out_weight);
    count(layer.out_bias);
  }
  return bytes;
}

}  // namespace trimvl::app
