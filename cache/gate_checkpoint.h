#pragma once
// Retention-gate checkpoints (`trimkv_weights.pth`, DESIGN §1): a Python torch.save zip of a dict
// name -> bf16 tensor holding every decoder layer's retention gate, named
//   <layer_prefix>{i}.self_attn.retention_gate.<tensor>
// with <layer_prefix> "model.language_model.layers." for VLMs and "model.layers." for LLMs.
//
//   rg   (TrimKV):   linear1.weight [I, H], linear1.bias [I], linear2.weight [H_kv, I], bias [H_kv]
//   rg10 (DBTrimKV): linear1.weight [I, H], linear1.bias [I], linear2.weight [I, I], linear2.bias [I],
//                    linear3.weight [H_kv, I], bias [H_kv]
//
// I is 512 in every published checkpoint. In rg10 the last projection and the bias are one module
// shared by all layers, yet torch's state_dict repeats it under every layer; the reference's
// load_state_dict copies each repeat into the shared parameter in layer order, so the last layer's
// copy is what runs. We do the same and warn when the copies differ.
//
// Loading reads the archive with LibTorch's unpickler onto the CPU (files saved during GPU
// training name cuda storages) and validates everything against the base model before any tensor
// is handed out: container and value types, the key set, the layer count, every shape, one floating
// dtype, finite values. Every mismatch is one Error naming the file and both sides of the disagreement.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <ATen/core/Tensor.h>

namespace trimvl::cache {

enum class GateType { Rg, Rg10 };

// "rg" | "rg10".
std::string_view gate_type_name(GateType type);
// Parses a config's `retention_gate` value; throws Unsupported for other variants (rg2, rg8, ...),
// which the reference lists but never builds.
GateType parse_gate_type(std::string_view name);

// What the gates must fit. Sizes come from the base model's config, the optional fields from the
// gate directory's config.json (absent there: taken from the file).
struct GateSpec {
  std::string layer_prefix;  // "model.language_model.layers." (VLMs) or "model.layers." (LLMs)
  int64_t num_layers = 0;
  int64_t hidden_size = 0;
  int64_t num_kv_heads = 0;
  std::string base_source;  // where the sizes come from, for messages (the base config.json)

  std::optional<GateType> type;               // retention_gate
  std::optional<int64_t> intermediate_size;   // retention_gate_intermediate_size
  bool tie_layers = true;                     // tie_retention_gate_layers (rg10 only)
  std::string gate_source;                    // the gate config.json, for messages
};

struct GateLinear {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out]
};

// One layer's gate: log β = logsigmoid(out_weight · act(…act(hidden[0](x))…) + out_bias), where
// act is the base model's hidden_act (SiLU for every supported model).
struct GateLayer {
  std::vector<GateLinear> hidden;  // rg: {linear1}; rg10: {linear1, linear2}
  at::Tensor out_weight;           // [H_kv, I], no bias: rg linear2.weight, rg10 linear3.weight
  at::Tensor out_bias;             // [H_kv]: the gate's separate `bias` parameter
};

struct GateCheckpoint {
  std::filesystem::path path;
  GateType type = GateType::Rg;
  std::string layer_prefix;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_kv_heads = 0;
  c10::ScalarType dtype = c10::kBFloat16;  // as stored; tensors are not converted

  // Per layer, in layer order. When `tied`, every layer's out_weight/out_bias are the same
  // tensors (the last layer's stored copy).
  std::vector<GateLayer> layers;
  bool tied = false;
  // Layers whose stored copy of a tied tensor differs from the last layer's (ignored, as in the
  // reference). Empty when the copies agree or nothing is tied.
  std::vector<int64_t> tied_copies_differ;

  int64_t file_tensors = 0;  // tensors in the file, repeats included
  int64_t file_bytes = 0;    // tensor data the archive stores (a storage shared by tensors once)

  int64_t num_layers() const { return static_cast<int64_t>(layers.size()); }
};

// Reads and validates `path` against `spec`. Throws trimvl::Error naming the file: NotFound when it
// does not exist, Unsupported for gate variants we do not run, InvalidInput for everything else.
GateCheckpoint load_gate_checkpoint(const std::filesystem::path& path, const GateSpec& spec);

}  // namespace trimvl::cache
