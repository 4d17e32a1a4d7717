#pragma once
// Qwen3-VL's text decoder configuration: transformers 4.57.1's Qwen3VLTextConfig, read from the
// `text_config` object of a qwen3_vl config.json. Keys a config leaves out (or writes as null)
// take that class's defaults, written out below; the one key 4.57 cannot do without is the M-RoPE
// section (`rope_scaling`; transformers 5 writes `rope_parameters`, also accepted).
//
// What 4.57 does, and so do we:
//   - tie_word_embeddings comes from text_config (default false); the top-level key of the same
//     name does not decide whether lm_head is tied.
//   - rope_theta is text_config.rope_theta, else rope_parameters.rope_theta (5.x), else 5e6.
//   - M-RoPE is always interleaved (`mrope_interleaved` is not read); the section defaults to
//     [24, 20, 20] when the rope object omits it.
//   - num_key_value_heads null means num_attention_heads; head_dim null means hidden / heads.
// Parsing checks what the numbers must satisfy (positive sizes, kv heads dividing heads, a section
// of three non-negative counts summing to head_dim / 2); whether the model supports a valid config
// (rope type, activation, attention bias) is the model's check, so tools can still describe one.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace trimvl {
class ConfigObject;  // kernels/runtime/config_json.h
}

namespace trimvl::qwen3vl {

struct TextConfig {
  int64_t vocab_size = 151936;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 22016;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 32;
  int64_t head_dim = 128;
  std::string hidden_act = "silu";
  int64_t max_position_embeddings = 128000;
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  bool attention_bias = false;
  double rope_theta = 5000000.0;
  std::string rope_type = "default";
  std::vector<int64_t> mrope_section = {24, 20, 20};  // (t, h, w) frequency pairs, interleaved

  std::string source;  // the config.json, for messages

  // `text_config` is the object under that key.
  static TextConfig parse(const ConfigObject& text_config);
  // A qwen3_vl config.json: its text_config (required).
  static TextConfig load(const std::filesystem::path& config_json);
};

}  // namespace trimvl::qwen3vl
