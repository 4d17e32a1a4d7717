#include "app/model_info.h"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "app/gates.h"
#include "cache/gate_checkpoint.h"
#include "kernels/runtime/config_json.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/dtype.h"
#include "kernels/runtime/error.h"
#include "language/qwen3vl/text_config.h"
#include "vision/qwen3vl/vision_config.h"

namespace trimvl::app {
namespace fs = std::filesystem;
namespace {

enum class Family { Qwen3VL, Llava, Llm };

// ---- config.json --------------------------------------------------------------------------------

// transformers 4.57.1 class defaults for text keys a config leaves out (configuration_qwen3.py,
// configuration_llama.py; Qwen3-VL's are qwen3vl::TextConfig's, which the decoder runs with).
// Keys written as null take the fallbacks HF applies to None.
struct TextDefaults {
  int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
  std::optional<int64_t> num_key_value_heads;  // nullopt: num_attention_heads
  std::optional<int64_t> head_dim;             // nullopt: hidden_size / num_attention_heads
  int64_t max_position_embeddings;
  double rope_theta;
};
const TextDefaults kQwen3Defaults{151936, 4096, 22016, 32, 32, 32, 128, 32768, 10000.0};
const TextDefaults kLlamaDefaults{32000, 4096, 11008, 32, 32, std::nullopt, std::nullopt, 2048, 10000.0};

const nlohmann::json& empty_object() {
  static const nlohmann::json empty = nlohmann::json::object();
  return empty;
}

// A sub-config, or an empty one (all defaults, as HF builds it) when the key is absent.
ConfigObject sub_config(const ConfigObject& top, std::string_view key) {
  if (auto sub = top.object(key)) return *sub;
  return ConfigObject(empty_object(), top.file(), std::string(key));
}

TextInfo parse_text(const ConfigObject& c, const TextDefaults& d, std::string model_type) {
  TextInfo t;
  t.model_type = std::move(model_type);
  t.hidden_size = c.integer("hidden_size", d.hidden_size);
  t.num_hidden_layers = c.integer("num_hidden_layers", d.num_hidden_layers);
  t.num_attention_heads = c.integer("num_attention_heads", d.num_attention_heads);
  t.intermediate_size = c.integer("intermediate_size", d.intermediate_size);
  t.vocab_size = c.integer("vocab_size", d.vocab_size);
  for (auto [key, value] : {std::pair<const char*, int64_t>{"hidden_size", t.hidden_size},
                            {"num_hidden_layers", t.num_hidden_layers}, {"num_attention_heads", t.num_attention_heads},
                            {"intermediate_size", t.intermediate_size}, {"vocab_size", t.vocab_size}})
    c.require_positive(key, value);
  if (c.has("num_key_value_heads")) t.num_key_value_heads = c.integer("num_key_value_heads");
  else if (c.contains("num_key_value_heads")) t.num_key_value_heads = t.num_attention_heads;
  else t.num_key_value_heads = d.num_key_value_heads.value_or(t.num_attention_heads);
  c.require_positive("num_key_value_heads", t.num_key_value_heads);
  if (t.num_attention_heads % t.num_key_value_heads != 0)
    throw c.error("num_key_value_heads", fmt::format("{} does not divide num_attention_heads {}",
                                                     t.num_key_value_heads, t.num_attention_heads));
  const int64_t even_split = t.hidden_size / t.num_attention_heads;
  if (c.has("head_dim")) t.head_dim = c.integer("head_dim");
  else if (c.contains("head_dim")) t.head_dim = even_split;
  else t.head_dim = d.head_dim.value_or(even_split);
  c.require_positive("head_dim", t.head_dim);
  t.hidden_act = c.string("hidden_act", "silu");
  t.rms_norm_eps = c.number("rms_norm_eps", 1e-6);
  t.max_position_embeddings = c.integer("max_position_embeddings", d.max_position_embeddings);
  t.tie_word_embeddings = c.boolean("tie_word_embeddings", false);

  // transformers 5 folds rope_theta and rope_scaling into rope_parameters.
  const auto scaling = c.object("rope_scaling");
  const auto parameters = c.object("rope_parameters");
  const ConfigObject* rope = scaling ? &*scaling : parameters ? &*parameters : nullptr;
  if (c.has("rope_theta")) t.rope_theta = c.number("rope_theta");
  else if (parameters && parameters->has("rope_theta")) t.rope_theta = parameters->number("rope_theta");
  else t.rope_theta = d.rope_theta;
  t.rope_type = rope ? rope->string("rope_type", rope->string("type", "default")) : "default";
  return t;
}

TextInfo qwen3vl_text_info(const qwen3vl::TextConfig& c, std::string model_type) {
  return TextInfo{std::move(model_type), c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
                  c.num_key_value_heads, c.head_dim, c.intermediate_size, c.vocab_size, c.hidden_act, c.rms_norm_eps,
                  c.rope_theta, c.rope_type, c.max_position_embeddings, c.tie_word_embeddings, c.mrope_section};
}

// The encoder's own parser: info reports (and refuses) exactly what the encoder would run.
VisionInfo parse_qwen3vl_vision(const ConfigObject& v) {
  const vision::qwen3vl::VisionConfig c = vision::qwen3vl::parse_vision_config(v);
  VisionInfo info;
  info.model_type = "qwen3_vl";
  info.hidden_size = c.hidden_size;
  info.num_layers = c.depth;
  info.num_heads = c.num_heads;
  info.intermediate_size = c.intermediate_size;
  info.hidden_act = c.hidden_act;
  info.patch_size = c.patch_size;
  info.in_channels = c.in_channels;
  info.temporal_patch_size = c.temporal_patch_size;
  info.spatial_merge_size = c.spatial_merge_size;
  info.out_hidden_size = c.out_hidden_size;
  info.num_position_embeddings = c.num_position_embeddings;
  info.deepstack_visual_indexes = c.deepstack_visual_indexes;
  return info;
}

VisionInfo parse_clip_vision(const ConfigObject& top) {
  const auto given = top.object("vision_config");
  const ConfigObject v = sub_config(top, "vision_config");
  const std::string type = v.string("model_type", "clip_vision_model");
  if (type != "clip_vision_model")
    throw Error(fmt::format("key '{}': vision tower '{}' is not supported (trimvl's LLaVA uses CLIP: "
                            "clip_vision_model)", v.key_path("model_type"), type), Error::Kind::Unsupported)
        .file(top.file());
  // Without vision_config LlavaConfig builds CLIP ViT-L/14-336; keys a given one omits take
  // CLIPVisionConfig's defaults.
  const bool l336 = !given.has_value();
  VisionInfo info;
  info.model_type = type;
  info.hidden_size = v.integer("hidden_size", l336 ? 1024 : 768);
  info.intermediate_size = v.integer("intermediate_size", l336 ? 4096 : 3072);
  info.num_layers = v.integer("num_hidden_layers", l336 ? 24 : 12);
  info.num_heads = v.integer("num_attention_heads", l336 ? 16 : 12);
  info.image_size = v.integer("image_size", l336 ? 336 : 224);
  info.patch_size = v.integer("patch_size", l336 ? 14 : 32);
  info.in_channels = v.integer("num_channels", 3);
  info.hidden_act = v.string("hidden_act", "quick_gelu");
  info.layer_norm_eps = v.number("layer_norm_eps", 1e-5);
  for (auto [key, value] : {std::pair<const char*, int64_t>{"hidden_size", info.hidden_size},
                            {"num_hidden_layers", info.num_layers}, {"num_attention_heads", info.num_heads},
                            {"image_size", *info.image_size}, {"patch_size", info.patch_size}})
    v.require_positive(key, value);
  if (*info.image_size % info.patch_size != 0)
    throw v.error("patch_size", fmt::format("{} does not divide image_size {}", info.patch_size, *info.image_size));
  return info;
}

struct ParsedConfig {
  Family family = Family::Llm;
  ModelInfo info;  // the config part
};

ParsedConfig parse_config(const fs::path& path) {
  const auto json = read_json_file(path);
  const ConfigObject top(json, path.string());
  ParsedConfig parsed;
  ModelInfo& info = parsed.info;
  if (!top.has("model_type"))
    throw Error("missing key 'model_type' (trimvl reads qwen3_vl, llava, qwen3 and llama configs)").file(path.string());
  info.model_type = top.string("model_type");
  if (top.has("architectures")) {
    const auto& arch = json.at("architectures");
    if (!arch.is_array() || (!arch.empty() && !arch.front().is_string()))
      throw top.error("architectures", "expected a list of class names");
    if (!arch.empty()) info.architecture = arch.front().get<std::string>();
  }
  info.config_dtype = top.has("dtype") ? top.optional_string("dtype") : top.optional_string("torch_dtype");

  if (info.model_type == "qwen3_vl") {
    parsed.family = Family::Qwen3VL;
    const auto text = top.object("text_config");
    if (!text)
      throw Error("missing key 'text_config' (Qwen3-VL's language model sizes and M-RoPE section)").file(path.string());
    info.text = qwen3vl_text_info(qwen3vl::TextConfig::parse(*text), text->string("model_type", "qwen3_vl_text"));
    const ConfigObject vision = sub_config(top, "vision_config");
    info.vision = parse_qwen3vl_vision(vision);
    if (*info.vision->out_hidden_size != info.text.hidden_size)
      throw vision.error("out_hidden_size", fmt::format("{} differs from text_config.hidden_size {}: the vision "
                                                        "merger must emit text-sized tokens",
                                                        *info.vision->out_hidden_size, info.text.hidden_size));
    info.qwen3vl_tokens = Qwen3VLTokens{top.integer("image_token_id", 151655), top.integer("video_token_id", 151656),
                                        top.integer("vision_start_token_id", 151652),
                                        top.integer("vision_end_token_id", 151653)};
  } else if (info.model_type == "llava") {
    parsed.family = Family::Llava;
    const ConfigObject text = sub_config(top, "text_config");
    const std::string text_type = text.string("model_type", "llama");
    if (text_type != "llama")
      throw Error(fmt::format("key '{}': language model '{}' is not supported (trimvl's LLaVA uses llama)",
                              text.key_path("model_type"), text_type), Error::Kind::Unsupported).file(path.string());
    info.text = parse_text(text, kLlamaDefaults, text_type);
    info.vision = parse_clip_vision(top);
    LlavaProjection p;
    // LlavaConfig maps image_token_id onto image_token_index.
    p.image_token_index = top.integer("image_token_index", top.integer("image_token_id", 32000));
    p.image_seq_length = top.integer("image_seq_length", 576);
    if (top.has("vision_feature_layer") && json.at("vision_feature_layer").is_array())
      throw Error("key 'vision_feature_layer': a list of layers is not supported (one layer, e.g. -2)",
                  Error::Kind::Unsupported).file(path.string());
    p.vision_feature_layer = top.integer("vision_feature_layer", -2);
    p.vision_feature_select_strategy = top.string("vision_feature_select_strategy", "default");
    if (p.vision_feature_select_strategy != "default" && p.vision_feature_select_strategy != "full")
      throw top.error("vision_feature_select_strategy",
                      fmt::format("'{}', expected 'default' or 'full'", p.vision_feature_select_strategy));
    p.projector_hidden_act = top.string("projector_hidden_act", "gelu");
    p.multimodal_projector_bias = top.boolean("multimodal_projector_bias", true);
    const int64_t hidden_states = info.vision->num_layers + 1;  // embeddings + every layer
    if (p.vision_feature_layer >= hidden_states || p.vision_feature_layer < -hidden_states)
      throw top.error("vision_feature_layer", fmt::format("{} is outside the {} hidden states of a {}-layer CLIP",
                                                          p.vision_feature_layer, hidden_states,
                                                          info.vision->num_layers));
    info.llava = p;
  } else if (info.model_type == "qwen3") {
    info.text = parse_text(top, kQwen3Defaults, "qwen3");
  } else if (info.model_type == "llama") {
    info.text = parse_text(top, kLlamaDefaults, "llama");
  } else {
    throw Error(fmt::format("model_type '{}' is not supported (trimvl reads qwen3_vl, llava, qwen3 and llama)",
                            info.model_type), Error::Kind::Unsupported).file(path.string());
  }
  return parsed;
}

// ---- weights --------------------------------------------------------------------------------------

// Top-level modules by tensor-name prefix, first match wins. LLaVA checkpoints come in the hub's
// legacy names (what 4.57 writes) and in transformers 5's.
const std::vector<std::pair<std::string, std::string>>& group_rules(Family family) {
  static const std::vector<std::pair<std::string, std::string>> qwen3vl = {
      {"model.visual.", "vision"}, {"model.language_model.", "language"}, {"lm_head.", "lm_head"}};
  static const std::vector<std::pair<std::string, std::string>> llava = {
      {"vision_tower.", "vision"}, {"model.vision_tower.", "vision"},
      {"multi_modal_projector.", "projector"}, {"model.multi_modal_projector.", "projector"},
      {"language_model.lm_head.", "lm_head"}, {"lm_head.", "lm_head"},
      {"language_model.", "language"}, {"model.language_model.", "language"}};
  static const std::vector<std::pair<std::string, std::string>> llm = {{"model.", "language"}, {"lm_head.", "lm_head"}};
  return family == Family::Qwen3VL ? qwen3vl : family == Family::Llava ? llava : llm;
}

std::vector<std::string> group_order(Family family) {
  if (family == Family::Qwen3VL) return {"vision", "language", "lm_head"};
  if (family == Family::Llava) return {"vision", "projector", "language", "lm_head"};
  return {"language", "lm_head"};
}

// Indices N in names "<...><marker>N." among `names`.
std::set<int64_t> indices_after(const std::vector<std::string>& names, const std::string& marker) {
  std::set<int64_t> out;
  for (const auto& n : names) {
    const auto at = n.find(marker);
    if (at == std::string::npos) continue;
    size_t end = at + marker.size(), i = end;
    while (i < n.size() && std::isdigit(static_cast<unsigned char>(n[i]))) ++i;
    if (i > end && i < n.size() && n[i] == '.') out.insert(std::stoll(n.substr(end, i - end)));
  }
  return out;
}

// The checks that catch a config whose defaults do not describe its weights.
void check_weights_match_config(const io::SafetensorsCheckpoint& ckpt, Family family, const ModelInfo& info,
                                const fs::path& config) {
  const auto names = ckpt.names();
  const std::string file = config.string();
  std::vector<std::string> language, vision;
  for (const auto& n : names) {
    std::string group = "other";
    for (const auto& [prefix, g] : group_rules(family))
      if (n.rfind(prefix, 0) == 0) { group = g; break; }
    if (group == "language") language.push_back(n);
    if (group == "vision") vision.push_back(n);
  }
  for (const auto& n : language) {
    if (n.find("embed_tokens.weight") == std::string::npos) continue;
    const auto& t = ckpt.info(n);
    if (t.shape != std::vector<int64_t>{info.text.vocab_size, info.text.hidden_size})
      throw Error(fmt::format("tensor '{}' has shape [{}] but the config gives vocab_size {} and hidden_size {}", n,
                              fmt::join(t.shape, ", "), info.text.vocab_size, info.text.hidden_size)).file(file);
  }
  const auto layers = indices_after(language, "layers.");
  if (static_cast<int64_t>(layers.size()) != info.text.num_hidden_layers)
    throw Error(fmt::format("the weights hold {} decoder layers but the config gives num_hidden_layers {}",
                            layers.size(), info.text.num_hidden_layers)).file(file);
  if (info.vision) {
    const auto blocks = indices_after(vision, family == Family::Qwen3VL ? "blocks." : "encoder.layers.");
    if (static_cast<int64_t>(blocks.size()) != info.vision->num_layers)
      throw Error(fmt::format("the weights hold {} vision layers but the config gives {} {}", blocks.size(),
                              family == Family::Qwen3VL ? "depth" : "num_hidden_layers", info.vision->num_layers))
          .file(file);
  }
  const bool has_lm_head = std::any_of(names.begin(), names.end(), [](const std::string& n) {
    return n == "lm_head.weight" || n == "language_model.lm_head.weight";
  });
  if (!has_lm_head && !info.text.tie_word_embeddings)
    throw Error("the weights have no lm_head.weight but the config sets tie_word_embeddings false (the output "
                "projection would be missing)").file(file);
}

WeightsInfo inspect_weights(const ModelFiles& m, Family family, const ModelInfo& info) {
  const auto ckpt = io::SafetensorsCheckpoint::open(m.weights);
  check_weights_match_config(ckpt, family, info, m.config);
  WeightsInfo w;
  std::map<std::string, DtypeCount> dtypes;
  std::map<std::string, int64_t> groups;
  for (const auto& g : group_order(family)) groups[g] = 0;
  for (const auto& shard : ckpt.shards()) {
    w.files.push_back(shard.path().filename().string());
    for (const auto& t : shard.tensors()) {
      const int64_t n = t.numel();
      auto& d = dtypes[t.dtype];
      d.dtype = t.dtype;
      d.tensors += 1;
      d.parameters += n;
      w.tensors += 1;
      w.bytes += static_cast<int64_t>(t.end - t.begin);
      w.total_parameters += n;
      std::string group = "other";
      for (const auto& [prefix, g] : group_rules(family))
        if (t.name.rfind(prefix, 0) == 0) { group = g; break; }
      groups[group] += n;
    }
  }
  std::sort(w.files.begin(), w.files.end());
  for (auto& [code, d] : dtypes) w.dtypes.push_back(d);
  for (const auto& g : group_order(family)) w.parameters.emplace_back(g, groups[g]);
  if (groups.count("other") && groups["other"] > 0) w.parameters.emplace_back("other", groups["other"]);
  return w;
}

// ---- gates ----------------------------------------------------------------------------------------

std::optional<GateInfo> inspect_gates(const GateFiles& g, Family family, const ModelInfo& info,
                                      const fs::path& base_config) {
  if (g.weights.empty()) return std::nullopt;  // listed in `missing`
  const GateConfig config = read_gate_config(g.config);
  GateInfo gi;
  gi.config = g.config.string();
  gi.base_model = g.base_model;
  gi.retention_gate = config.retention_gate;
  gi.memory_size = config.memory_size;
  gi.buffer_size = config.buffer_size;

  cache::GateSpec base;
  base.layer_prefix = family == Family::Llm ? "model.layers." : "model.language_model.layers.";
  base.num_layers = info.text.num_hidden_layers;
  base.hidden_size = info.text.hidden_size;
  base.num_kv_heads = info.text.num_key_value_heads;
  base.base_source = base_config.string();
  const auto ckpt = load_gates(g, base);
  gi.path = g.weights.string();
  gi.type = std::string(cache::gate_type_name(ckpt.type));
  gi.layers = ckpt.num_layers();
  gi.tensors = ckpt.file_tensors;
  gi.bytes = ckpt.file_bytes;
  gi.dtype = dtype_name(ckpt.dtype);
  gi.intermediate_size = ckpt.intermediate_size;
  gi.tied = ckpt.tied;
  gi.tied_copies_differ = ckpt.tied_copies_differ;
  return gi;
}

// ---- rendering --------------------------------------------------------------------------------------

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string human_bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string dtype_label(const std::string& code) {
  static const std::map<std::string, std::string> names = {{"BF16", "bf16"}, {"F16", "fp16"}, {"F32", "fp32"}};
  auto it = names.find(code);
  return it == names.end() ? code : it->second;
}

class Lines {
 public:
  void add(std::string_view label, std::string text) {
    out_ += fmt::format("{:<13}{}\n", label, text);
  }
  void more(std::string text) { add("", std::move(text)); }
  std::string str() const { return out_; }

 private:
  std::string out_;
};

nlohmann::ordered_json optional_json(const auto& v) {
  if (!v) return nullptr;
  return *v;
}

}  // namespace

ModelInfo inspect_model(const Snapshot& snapshot) {
  const ModelFiles& m = snapshot.model;
  ParsedConfig parsed = parse_config(m.config);
  ModelInfo info = std::move(parsed.info);
  info.path = m.dir.string();
  info.hub_repo = m.hub_repo;
  const bool weights_complete =
      !m.weights.empty() && std::none_of(snapshot.missing.begin(), snapshot.missing.end(), [&](const MissingFile& f) {
        return std::find(m.shards.begin(), m.shards.end(), f.file) != m.shards.end();
      });
  if (weights_complete) info.weights = inspect_weights(m, parsed.family, info);
  if (snapshot.gates) info.gates = inspect_gates(*snapshot.gates, parsed.family, info, m.config);

  auto file = [&](const char* key, const fs::path& p) { info.files.emplace_back(key, p.string()); };
  file("config", m.config);
  file("generation_config", m.generation_config);
  file("weights", m.weights);
  file("tokenizer", m.tokenizer);
  file("tokenizer_config", m.tokenizer_config);
  file("chat_template", m.chat_template);
  file("preprocessor_config", m.preprocessor_config);
  file("video_preprocessor_config", m.video_preprocessor_config);
  if (snapshot.gates) {
    file("gate_config", snapshot.gates->config);
    file("gate_weights", snapshot.gates->weights);
  }
  info.missing = snapshot.missing;
  return info;
}

std::string render_text(const ModelInfo& info) {
  Lines out;
  out.add("model", info.path + (info.hub_repo ? fmt::format("  (hub: {})", *info.hub_repo) : ""));
  out.add("architecture", fmt::format("{} (model_type {}{})", info.architecture.value_or("class not stated"),
                                      info.model_type,
                                      info.config_dtype ? fmt::format(", config dtype {}", *info.config_dtype) : ""));
  const TextInfo& t = info.text;
  out.add("text", fmt::format("{}: hidden {}, {} layers, {} heads, {} KV heads, head_dim {}, intermediate {}, "
                              "vocab {}", t.model_type, t.hidden_size, t.num_hidden_layers, t.num_attention_heads,
                              t.num_key_value_heads, t.head_dim, t.intermediate_size, thousands(t.vocab_size)));
  out.more(fmt::format("{}, rms_norm_eps {:g}, rope theta {:g} ({}){}, max positions {}, {} embeddings", t.hidden_act,
                       t.rms_norm_eps, t.rope_theta, t.rope_type,
                       t.mrope_section ? fmt::format(", M-RoPE section [{}] interleaved", fmt::join(*t.mrope_section, ", "))
                                       : "",
                       thousands(t.max_position_embeddings), t.tie_word_embeddings ? "tied" : "untied"));
  if (info.vision) {
    const VisionInfo& v = *info.vision;
    out.add("vision", fmt::format("{}: hidden {}, {} layers, {} heads, intermediate {}, {}, patch {}", v.model_type,
                                  v.hidden_size, v.num_layers, v.num_heads, v.intermediate_size, v.hidden_act,
                                  v.patch_size));
    if (v.deepstack_visual_indexes)
      out.more(fmt::format("temporal patch {}, merge {}, out hidden {}, {} position embeddings, DeepStack after "
                           "blocks [{}]", *v.temporal_patch_size, *v.spatial_merge_size, *v.out_hidden_size,
                           *v.num_position_embeddings, fmt::join(*v.deepstack_visual_indexes, ", ")));
    if (v.image_size) out.more(fmt::format("image {}x{}, layer_norm_eps {:g}", *v.image_size, *v.image_size,
                                           *v.layer_norm_eps));
  }
  if (info.qwen3vl_tokens) {
    const auto& k = *info.qwen3vl_tokens;
    out.add("tokens", fmt::format("image {}, video {}, vision start {}, vision end {}", k.image_token_id,
                                  k.video_token_id, k.vision_start_token_id, k.vision_end_token_id));
  }
  if (info.llava) {
    const auto& p = *info.llava;
    out.add("projector", fmt::format("CLIP hidden state {} ({} strategy), {} projector{}, image token {} x {}",
                                     p.vision_feature_layer, p.vision_feature_select_strategy, p.projector_hidden_act,
                                     p.multimodal_projector_bias ? "" : " without bias", p.image_token_index,
                                     p.image_seq_length));
  }
  if (info.weights) {
    const WeightsInfo& w = *info.weights;
    std::vector<std::string> dtypes;
    for (const auto& d : w.dtypes)
      dtypes.push_back(w.dtypes.size() == 1 ? dtype_label(d.dtype)
                                            : fmt::format("{} {}", dtype_label(d.dtype), thousands(d.tensors)));
    out.add("weights", fmt::format("{}: {} tensors, {} ({})",
                                   w.files.size() == 1 ? w.files.front() : fmt::format("{} shards", w.files.size()),
                                   thousands(w.tensors), human_bytes(w.bytes), fmt::join(dtypes, ", ")));
    std::vector<std::string> groups;
    for (const auto& [name, n] : w.parameters)
      groups.push_back(name == "lm_head" && n == 0 && info.text.tie_word_embeddings
                           ? "lm_head 0 (tied to embed_tokens)"
                           : fmt::format("{} {}", name, thousands(n)));
    out.add("parameters", fmt::format("{} total: {}", thousands(w.total_parameters), fmt::join(groups, ", ")));
  } else {
    out.add("weights", "not available (see missing)");
  }
  if (info.gates) {
    const GateInfo& g = *info.gates;
    out.add("gates", fmt::format("{} ({}): {} layers, {} tensors, {} {}, intermediate {}{}", g.type,
                                 g.type == "rg10" ? "DBTrimKV" : "TrimKV", g.layers, g.tensors, human_bytes(g.bytes),
                                 g.dtype, g.intermediate_size,
                                 g.tied ? ", linear3 and bias shared by all layers" : ""));
    out.more(g.path);
    std::vector<std::string> fields;
    if (g.retention_gate) fields.push_back("retention_gate " + *g.retention_gate);
    if (g.memory_size) fields.push_back(fmt::format("memory_size {}", *g.memory_size));
    if (g.buffer_size) fields.push_back(fmt::format("buffer_size {}", *g.buffer_size));
    if (g.base_model) fields.push_back("base_model " + *g.base_model);
    if (!fields.empty()) out.more(fmt::format("config {}: {}", g.config, fmt::join(fields, ", ")));
    if (!g.tied_copies_differ.empty())
      out.more(fmt::format("warning: the stored copies of the shared tensors differ in layers {}; the last layer's "
                           "is used", fmt::join(g.tied_copies_differ, ", ")));
  }
  std::vector<std::string> present;  // the gate files are named in the gates section
  std::set<std::string> seen;         // tokenizer_config.json may also be the chat template
  for (const auto& [key, path] : info.files)
    if (!path.empty() && key.rfind("gate_", 0) != 0 && seen.insert(path).second)
      present.push_back(fs::path(path).filename().string());
  out.add("files", fmt::format("{}", fmt::join(present, ", ")));
  for (size_t i = 0; i < info.missing.size(); ++i) {
    const auto& f = info.missing[i];
    out.add(i == 0 ? "missing" : "", fmt::format("{}: {}", f.file, f.why));
    out.more(fmt::format("  get it: {}", f.hint));
  }
  return out.str();
}

std::string render_json(const ModelInfo& info) {
  nlohmann::ordered_json j;
  j["path"] = info.path;
  j["hub_repo"] = optional_json(info.hub_repo);
  j["model_type"] = info.model_type;
  j["architecture"] = optional_json(info.architecture);
  j["config_dtype"] = optional_json(info.config_dtype);
  const TextInfo& t = info.text;
  j["text"] = {{"model_type", t.model_type}, {"hidden_size", t.hidden_size},
               {"num_hidden_layers", t.num_hidden_layers}, {"num_attention_heads", t.num_attention_heads},
               {"num_key_value_heads", t.num_key_value_heads}, {"head_dim", t.head_dim},
               {"intermediate_size", t.intermediate_size}, {"vocab_size", t.vocab_size}, {"hidden_act", t.hidden_act},
               {"rms_norm_eps", t.rms_norm_eps}, {"rope_theta", t.rope_theta}, {"rope_type", t.rope_type},
               {"max_position_embeddings", t.max_position_embeddings},
               {"tie_word_embeddings", t.tie_word_embeddings}, {"mrope_section", optional_json(t.mrope_section)}};
  j["vision"] = nullptr;
  if (info.vision) {
    const VisionInfo& v = *info.vision;
    auto& jv = j["vision"] = {{"model_type", v.model_type}, {"hidden_size", v.hidden_size},
                              {"num_layers", v.num_layers}, {"num_heads", v.num_heads},
                              {"intermediate_size", v.intermediate_size}, {"hidden_act", v.hidden_act},
                              {"patch_size", v.patch_size}, {"in_channels", v.in_channels}};
    if (v.deepstack_visual_indexes) {
      jv["temporal_patch_size"] = *v.temporal_patch_size;
      jv["spatial_merge_size"] = *v.spatial_merge_size;
      jv["out_hidden_size"] = *v.out_hidden_size;
      jv["num_position_embeddings"] = *v.num_position_embeddings;
      jv["deepstack_visual_indexes"] = *v.deepstack_visual_indexes;
    }
    if (v.image_size) {
      jv["image_size"] = *v.image_size;
      jv["layer_norm_eps"] = *v.layer_norm_eps;
    }
  }
  j["multimodal"] = nullptr;
  if (info.qwen3vl_tokens) {
    const auto& k = *info.qwen3vl_tokens;
    j["multimodal"] = {{"image_token_id", k.image_token_id}, {"video_token_id", k.video_token_id},
                       {"vision_start_token_id", k.vision_start_token_id},
                       {"vision_end_token_id", k.vision_end_token_id}};
  }
  if (info.llava) {
    const auto& p = *info.llava;
    j["multimodal"] = {{"image_token_index", p.image_token_index}, {"image_seq_length", p.image_seq_length},
                       {"vision_feature_layer", p.vision_feature_layer},
                       {"vision_feature_select_strategy", p.vision_feature_select_strategy},
                       {"projector_hidden_act", p.projector_hidden_act},
                       {"multimodal_projector_bias", p.multimodal_projector_bias}};
  }
  j["weights"] = nullptr;
  if (info.weights) {
    const WeightsInfo& w = *info.weights;
    nlohmann::ordered_json dtypes = nlohmann::ordered_json::object(), params = nlohmann::ordered_json::object();
    for (const auto& d : w.dtypes) dtypes[d.dtype] = {{"tensors", d.tensors}, {"parameters", d.parameters}};
    params["total"] = w.total_parameters;
    for (const auto& [name, n] : w.parameters) params[name] = n;
    j["weights"] = {{"files", w.files}, {"tensors", w.tensors}, {"bytes", w.bytes}, {"dtypes", dtypes},
                    {"parameters", params}};
  }
  j["gates"] = nullptr;
  if (info.gates) {
    const GateInfo& g = *info.gates;
    j["gates"] = {{"path", g.path}, {"config", g.config}, {"type", g.type}, {"layers", g.layers},
                  {"tensors", g.tensors}, {"bytes", g.bytes}, {"dtype", g.dtype},
                  {"intermediate_size", g.intermediate_size}, {"tied", g.tied},
                  {"tied_copies_differ", g.tied_copies_differ}, {"retention_gate", optional_json(g.retention_gate)},
                  {"base_model", optional_json(g.base_model)}, {"memory_size", optional_json(g.memory_size)},
                  {"buffer_size", optional_json(g.buffer_size)}};
  }
  nlohmann::ordered_json files = nlohmann::ordered_json::object();
  for (const auto& [key, path] : info.files) files[key] = path.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(path);
  j["files"] = files;
  j["missing"] = nlohmann::ordered_json::array();
  for (const auto& f : info.missing) j["missing"].push_back({{"file", f.file}, {"why", f.why}, {"hint", f.hint}});
  return j.dump(2) + "\n";
}

}  // namespace trimvl::app
