// inspect_model on hand-written configs, weights and gates: each broken input is one Error naming
// the file and the key. The facts of well-formed checkpoints are checked against transformers in
// info_golden_test.cpp.
#include "app/model_info.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/pickle.h>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

// A small, valid Qwen3 LLM config; tests patch one key at a time.
nlohmann::json llm_config() {
  return {{"model_type", "qwen3"}, {"architectures", {"Qwen3ForCausalLM"}}, {"hidden_size", 8},
          {"intermediate_size", 16}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
          {"num_key_value_heads", 1}, {"head_dim", 4}, {"vocab_size", 10}, {"tie_word_embeddings", true}};
}

nlohmann::json vlm_config() {
  return {{"model_type", "qwen3_vl"},
          {"text_config", {{"hidden_size", 8}, {"intermediate_size", 16}, {"num_hidden_layers", 2},
                           {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"head_dim", 4},
                           {"vocab_size", 10}, {"rope_scaling", {{"mrope_section", {1, 0, 1}}}}}},
          {"vision_config", {{"depth", 2}, {"hidden_size", 8}, {"num_heads", 2}, {"out_hidden_size", 8},
                             {"deepstack_visual_indexes", {1}}}}};
}

at::Tensor zeros(std::vector<int64_t> shape, at::ScalarType type = at::kBFloat16) {
  return at::zeros(shape, at::TensorOptions().dtype(type));
}

// model.safetensors of the LLM config: embeddings, two layers of one tensor each, the final norm.
std::vector<std::pair<std::string, at::Tensor>> llm_weights() {
  return {{"model.embed_tokens.weight", zeros({10, 8})},
          {"model.layers.0.input_layernorm.weight", zeros({8})},
          {"model.layers.1.input_layernorm.weight", zeros({8})},
          {"model.norm.weight", zeros({8}, at::kFloat)}};
}

class ModelInfoTest : public ::testing::Test {
 protected:
  test::TempDir tmp;
  fs::path dir = tmp / "m";

  ModelInfo inspect(const nlohmann::json& config) {
    test::write_file(dir / "config.json", config.dump());
    return inspect_model(discover_snapshot(dir.string()));
  }

  void expect_error(const nlohmann::json& config, Error::Kind kind, const std::vector<std::string>& fragments,
                    const fs::path& file = {}) {
    try {
      inspect(config);
      ADD_FAILURE() << "no error for " << config.dump();
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), kind) << e.what();
      EXPECT_EQ(e.file(), (file.empty() ? dir / "config.json" : file).string()) << e.what();
      for (const auto& f : fragments)
        EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "'" << f << "' not in: " << e.what();
    }
  }

  void write_gates(const fs::path& path, const std::string& prefix, int64_t layers) {
    c10::Dict<std::string, at::Tensor> dict;
    for (int64_t i = 0; i < layers; ++i) {
      const std::string p = prefix + std::to_string(i) + ".self_attn.retention_gate.";
      dict.insert(p + "linear1.weight", zeros({512, 8}));
      dict.insert(p + "linear1.bias", zeros({512}));
      dict.insert(p + "linear2.weight", zeros({1, 512}));
      dict.insert(p + "bias", zeros({1}));
    }
    const auto bytes = torch::jit::pickle_save(dict);
    test::write_file(path, std::string(bytes.begin(), bytes.end()));
  }
};

// ---- config.json ---------------------------------------------------------------------------

TEST_F(ModelInfoTest, ReadsAnLlmConfig) {
  const auto info = inspect(llm_config());
  EXPECT_EQ(info.model_type, "qwen3");
  EXPECT_EQ(info.architecture, "Qwen3ForCausalLM");
  EXPECT_EQ(info.text.num_key_value_heads, 1);
  EXPECT_EQ(info.text.head_dim, 4);
  EXPECT_FALSE(info.vision);
  EXPECT_FALSE(info.weights);  // none on disk
}

TEST_F(ModelInfoTest, MissingModelType) {
  auto c = llm_config();
  c.erase("model_type");
  expect_error(c, Error::Kind::InvalidInput, {"missing key 'model_type'"});
}

TEST_F(ModelInfoTest, UnsupportedModelType) {
  auto c = llm_config();
  c["model_type"] = "mamba";
  expect_error(c, Error::Kind::Unsupported, {"model_type 'mamba' is not supported"});
}

TEST_F(ModelInfoTest, WrongValueType) {
  auto c = llm_config();
  c["hidden_size"] = "8";
  expect_error(c, Error::Kind::InvalidInput, {"key 'hidden_size': expected an integer, got \"8\""});
  c = llm_config();
  c["num_hidden_layers"] = 2.5;
  expect_error(c, Error::Kind::InvalidInput, {"key 'num_hidden_layers': expected an integer, got 2.5"});
  c = llm_config();
  c["tie_word_embeddings"] = "yes";
  expect_error(c, Error::Kind::InvalidInput, {"key 'tie_word_embeddings': expected true or false"});
}

TEST_F(ModelInfoTest, IntegralFloatsAreIntegers) {
  auto c = llm_config();
  c["num_hidden_layers"] = 2.0;
  EXPECT_EQ(inspect(c).text.num_hidden_layers, 2);
}

TEST_F(ModelInfoTest, NonPositiveSize) {
  auto c = llm_config();
  c["vocab_size"] = 0;
  expect_error(c, Error::Kind::InvalidInput, {"key 'vocab_size': must be positive, got 0"});
}

TEST_F(ModelInfoTest, KvHeadsMustDivideHeads) {
  auto c = llm_config();
  c["num_key_value_heads"] = 3;
  expect_error(c, Error::Kind::InvalidInput, {"key 'num_key_value_heads': 3 does not divide num_attention_heads 2"});
}

// Qwen3Config defaults num_key_value_heads to 32 when the key is absent, and to
// num_attention_heads when it is null.
TEST_F(ModelInfoTest, AbsentAndNullKeysTakeTheirOwnDefaults) {
  auto c = llm_config();
  c["num_attention_heads"] = 64;
  c.erase("num_key_value_heads");
  EXPECT_EQ(inspect(c).text.num_key_value_heads, 32);
  c["num_key_value_heads"] = nullptr;
  EXPECT_EQ(inspect(c).text.num_key_value_heads, 64);
}

TEST_F(ModelInfoTest, Qwen3VLNeedsTextConfigAndRopeScaling) {
  auto c = vlm_config();
  c.erase("text_config");
  expect_error(c, Error::Kind::InvalidInput, {"missing key 'text_config'"});
  c = vlm_config();
  c["text_config"].erase("rope_scaling");
  expect_error(c, Error::Kind::InvalidInput, {"missing key 'text_config.rope_scaling'", "M-RoPE"});
  c = vlm_config();
  c["text_config"] = 5;
  expect_error(c, Error::Kind::InvalidInput, {"key 'text_config': expected an object, got 5"});
}

TEST_F(ModelInfoTest, Qwen3VLAcceptsTransformers5RopeParameters) {
  auto c = vlm_config();
  c["text_config"].erase("rope_scaling");
  c["text_config"]["rope_parameters"] = {{"rope_type", "default"}, {"mrope_section", {1, 0, 1}}, {"rope_theta", 7.0}};
  const auto info = inspect(c);
  EXPECT_EQ(info.text.rope_theta, 7.0);
  EXPECT_EQ(info.text.mrope_section, (std::vector<int64_t>{1, 0, 1}));
}

TEST_F(ModelInfoTest, Qwen3VLConsistencyChecks) {
  auto c = vlm_config();
  c["text_config"]["rope_scaling"]["mrope_section"] = {2, 2, 2};
  expect_error(c, Error::Kind::InvalidInput, {"key 'text_config.rope_scaling.mrope_section'", "head_dim / 2 = 2"});
  c = vlm_config();
  c["vision_config"]["out_hidden_size"] = 16;
  expect_error(c, Error::Kind::InvalidInput, {"key 'vision_config.out_hidden_size'", "text_config.hidden_size 8"});
  c = vlm_config();
  c["vision_config"]["deepstack_visual_indexes"] = {2};
  expect_error(c, Error::Kind::InvalidInput, {"key 'vision_config.deepstack_visual_indexes'", "index 2"});
  c = vlm_config();
  c["vision_config"]["num_heads"] = 3;
  expect_error(c, Error::Kind::InvalidInput, {"key 'vision_config.num_heads': 3 does not divide hidden_size 8"});
}

TEST_F(ModelInfoTest, LlavaSupportsLlamaWithClipOnly) {
  expect_error({{"model_type", "llava"}, {"vision_config", {{"model_type", "siglip_vision_model"}}}},
               Error::Kind::Unsupported, {"key 'vision_config.model_type'", "siglip_vision_model"});
  expect_error({{"model_type", "llava"}, {"text_config", {{"model_type", "qwen2"}}}}, Error::Kind::Unsupported,
               {"key 'text_config.model_type'", "qwen2"});
  expect_error({{"model_type", "llava"}, {"vision_feature_layer", {-2, -5}}}, Error::Kind::Unsupported,
               {"vision_feature_layer"});
  expect_error({{"model_type", "llava"}, {"vision_feature_layer", -30}}, Error::Kind::InvalidInput,
               {"key 'vision_feature_layer': -30 is outside the 25 hidden states"});
}

// ---- weights against the config -------------------------------------------------------------

TEST_F(ModelInfoTest, CountsParametersFromTheHeaders) {
  auto weights = llm_weights();
  weights.emplace_back("lm_head.weight", zeros({10, 8}));
  weights.emplace_back("extra.scale", zeros({3}, at::kFloat));
  fs::create_directories(dir);
  io::save_safetensors(dir / "model.safetensors", weights);
  auto c = llm_config();
  c["tie_word_embeddings"] = false;
  const auto info = inspect(c);
  ASSERT_TRUE(info.weights);
  const auto& w = *info.weights;
  EXPECT_EQ(w.files, std::vector<std::string>{"model.safetensors"});
  EXPECT_EQ(w.tensors, 6);
  EXPECT_EQ(w.total_parameters, 80 + 8 + 8 + 8 + 80 + 3);
  EXPECT_EQ(w.bytes, (80 + 8 + 8 + 80) * 2 + (8 + 3) * 4);
  EXPECT_EQ(w.parameters, (std::vector<std::pair<std::string, int64_t>>{
                              {"language", 104}, {"lm_head", 80}, {"other", 3}}));
  ASSERT_EQ(w.dtypes.size(), 2u);
  EXPECT_EQ(w.dtypes[0].dtype, "BF16");
  EXPECT_EQ(w.dtypes[0].tensors, 4);
  EXPECT_EQ(w.dtypes[1].dtype, "F32");
  EXPECT_EQ(w.dtypes[1].parameters, 11);
}

TEST_F(ModelInfoTest, WeightsThatContradictTheConfig) {
  fs::create_directories(dir);
  auto weights = llm_weights();
  weights[0].second = zeros({10, 6});
  io::save_safetensors(dir / "model.safetensors", weights);
  expect_error(llm_config(), Error::Kind::InvalidInput,
               {"tensor 'model.embed_tokens.weight' has shape [10, 6]", "vocab_size 10 and hidden_size 8"});

  io::save_safetensors(dir / "model.safetensors", llm_weights());
  auto c = llm_config();
  c["num_hidden_layers"] = 3;
  expect_error(c, Error::Kind::InvalidInput, {"2 decoder layers", "num_hidden_layers 3"});
  c = llm_config();
  c["tie_word_embeddings"] = false;
  expect_error(c, Error::Kind::InvalidInput, {"no lm_head.weight", "tie_word_embeddings false"});
}

// ---- gates ------------------------------------------------------------------------------------

TEST_F(ModelInfoTest, DescribesGatesBesideTheBase) {
  write_gates(dir / "trimkv_weights.pth", "model.layers.", 2);
  auto c = llm_config();
  c["retention_gate"] = "rg";
  c["memory_size"] = 512.0;
  const auto info = inspect(c);
  ASSERT_TRUE(info.gates);
  EXPECT_EQ(info.gates->type, "rg");
  EXPECT_EQ(info.gates->layers, 2);
  EXPECT_EQ(info.gates->tensors, 8);
  EXPECT_EQ(info.gates->dtype, "bf16");
  EXPECT_EQ(info.gates->retention_gate, "rg");
  EXPECT_EQ(info.gates->memory_size, 512);
  EXPECT_FALSE(info.gates->base_model);
}

TEST_F(ModelInfoTest, GatesForAnotherBaseOrAnotherConfig) {
  write_gates(dir / "trimkv_weights.pth", "model.layers.", 3);
  expect_error(llm_config(), Error::Kind::InvalidInput, {"gates for 3 layers", "num_hidden_layers 2"},
               dir / "trimkv_weights.pth");
  write_gates(dir / "trimkv_weights.pth", "model.layers.", 2);
  auto c = llm_config();
  c["retention_gate"] = "rg8";
  expect_error(c, Error::Kind::Unsupported, {"retention_gate 'rg8' is not supported"});
}

TEST_F(ModelInfoTest, VlmGateFieldsLiveInTextConfig) {
  fs::create_directories(tmp / "base");
  test::write_file(tmp / "base" / "config.json", vlm_config().dump());
  auto gate = vlm_config();
  gate["base_model"] = "../base";
  gate["text_config"]["retention_gate"] = "rg10";
  test::write_file(dir / "config.json", gate.dump());
  write_gates(dir / "trimkv_weights.pth", "model.language_model.layers.", 2);
  try {
    inspect_model(discover_snapshot(dir.string()));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds rg gates (no linear3) but " + (dir / "config.json").string() +
                                         " says retention_gate 'rg10'"), std::string::npos) << e.what();
  }
}

// ---- rendering ----------------------------------------------------------------------------------

TEST_F(ModelInfoTest, RendersMissingFilesWithTheirHints) {
  const auto info = inspect(llm_config());
  const std::string text = render_text(info);
  EXPECT_NE(text.find("missing      model.safetensors: the model weights"), std::string::npos) << text;
  EXPECT_NE(text.find("get it: copy model.safetensors from the model's Hugging Face repository"), std::string::npos);
  const auto json = nlohmann::json::parse(render_json(info));
  EXPECT_EQ(json.at("missing").at(0).at("file"), "model.safetensors");
  EXPECT_TRUE(json.at("files").at("weights").is_null());
  EXPECT_EQ(json.at("files").at("config"), (dir / "config.json").string());
  EXPECT_TRUE(json.at("weights").is_null());
  EXPECT_EQ(json.at("text").at("hidden_size"), 8);
}

}  // namespace
}  // namespace trimvl::app
