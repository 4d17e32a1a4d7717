#pragma once
// What `trimvl info` reports about a checkpoint: the architecture and sizes from config.json (with
// transformers 4.57's class defaults for keys a config leaves out), weight dtypes and parameter
// counts from the safetensors headers (no tensor data is read), the retention gates (loaded and
// verified against the base model), and which files are present or missing.
//
// Supported: Qwen3-VL (model_type qwen3_vl), LLaVA (llava: Llama text + CLIP vision) and the plain
// Qwen3 / Llama LLMs. Anything inconsistent (a missing key transformers cannot default, a config
// that contradicts its weights, gates for another base) is an Error naming the file and both sides.
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "app/snapshot.h"

namespace trimvl::app {

struct TextInfo {
  std::string model_type;  // qwen3_vl_text, llama, qwen3
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t vocab_size = 0;
  std::string hidden_act;
  double rms_norm_eps = 0;
  double rope_theta = 0;
  std::string rope_type;  // "default" unless rope_scaling says otherwise
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  std::optional<std::vector<int64_t>> mrope_section;  // Qwen3-VL: (t, h, w) frequency counts, interleaved
};

struct VisionInfo {
  std::string model_type;  // qwen3_vl, clip_vision_model
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t intermediate_size = 0;
  std::string hidden_act;
  int64_t patch_size = 0;
  int64_t in_channels = 0;
  // Qwen3-VL
  std::optional<int64_t> temporal_patch_size, spatial_merge_size, out_hidden_size, num_position_embeddings;
  std::optional<std::vector<int64_t>> deepstack_visual_indexes;
  // CLIP
  std::optional<int64_t> image_size;
  std::optional<double> layer_norm_eps;
};

// Qwen3-VL's special token ids.
struct Qwen3VLTokens {
  int64_t image_token_id = 0, video_token_id = 0, vision_start_token_id = 0, vision_end_token_id = 0;
};

// How LLaVA turns CLIP features into text tokens.
struct LlavaProjection {
  int64_t image_token_index = 0;
  int64_t image_seq_length = 0;
  int64_t vision_feature_layer = 0;
  std::string vision_feature_select_strategy;
  std::string projector_hidden_act;
  bool multimodal_projector_bias = true;
};

struct DtypeCount {
  std::string dtype;  // safetensors code: BF16, F16, F32, ...
  int64_t tensors = 0;
  int64_t parameters = 0;
};

struct WeightsInfo {
  std::vector<std::string> files;  // safetensors file names, sorted
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::vector<DtypeCount> dtypes;
  int64_t total_parameters = 0;
  // By top-level module: vision, projector (LLaVA), language, lm_head (0 when tied), other.
  std::vector<std::pair<std::string, int64_t>> parameters;
};

struct GateInfo {
  std::string path;    // trimkv_weights.pth
  std::string config;  // the config.json holding the gate fields
  std::string type;    // rg | rg10
  int64_t layers = 0;
  int64_t tensors = 0;
  int64_t bytes = 0;
  std::string dtype;
  int64_t intermediate_size = 0;
  bool tied = false;
  std::vector<int64_t> tied_copies_differ;
  // From the gate config.json, as written.
  std::optional<std::string> retention_gate, base_model;
  std::optional<int64_t> memory_size, buffer_size;
};

struct ModelInfo {
  std::string path;
  std::optional<std::string> hub_repo;
  std::string model_type;
  std::optional<std::string> architecture;  // architectures[0]
  std::optional<std::string> config_dtype;  // dtype / torch_dtype in config.json
  TextInfo text;
  std::optional<VisionInfo> vision;
  std::optional<Qwen3VLTokens> qwen3vl_tokens;
  std::optional<LlavaProjection> llava;
  std::optional<WeightsInfo> weights;  // absent when the weights are missing
  std::optional<GateInfo> gates;
  std::vector<std::pair<std::string, std::string>> files;  // file name -> path ("" when absent)
  std::vector<MissingFile> missing;
};

ModelInfo inspect_model(const Snapshot& snapshot);

std::string render_text(const ModelInfo& info);
std::string render_json(const ModelInfo& info);  // pretty-printed, the keys of the structs above

}  // namespace trimvl::app
