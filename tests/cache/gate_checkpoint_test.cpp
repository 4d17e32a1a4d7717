// Gate checkpoints written with LibTorch's pickle_save (the same zip + pickle container as
// torch.save); files only Python can write (OrderedDict, the legacy format, the reference's own
// tensors) are covered by gate_checkpoint_golden_test.cpp.
#include "cache/gate_checkpoint.h"

#include <limits>

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::cache {
namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;

constexpr int64_t kLayers = 2, kHidden = 8, kInter = 512, kKv = 2;
const std::string kVlmPrefix = "model.language_model.layers.";

// Distinct values in every tensor, so a mix-up of tensors or layers shows.
at::Tensor ramp(std::vector<int64_t> shape, double offset) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return at::arange(n, at::kFloat).mul(1e-3).add(offset).reshape(shape).to(at::kBFloat16);
}

std::string key(const std::string& prefix, int64_t layer, const std::string& leaf) {
  return prefix + std::to_string(layer) + ".self_attn.retention_gate." + leaf;
}

Tensors rg_tensors(const std::string& prefix = kVlmPrefix, int64_t layers = kLayers, int64_t hidden = kHidden,
                   int64_t inter = kInter, int64_t kv = kKv) {
  Tensors t;
  for (int64_t i = 0; i < layers; ++i) {
    t.emplace_back(key(prefix, i, "linear1.weight"), ramp({inter, hidden}, 10 * i + 1));
    t.emplace_back(key(prefix, i, "linear1.bias"), ramp({inter}, 10 * i + 2));
    t.emplace_back(key(prefix, i, "linear2.weight"), ramp({kv, inter}, 10 * i + 3));
    t.emplace_back(key(prefix, i, "bias"), ramp({kv}, 10 * i + 4));
  }
  return t;
}

// The tied tensors are stored once per layer with equal values, as torch's state_dict writes them.
Tensors rg10_tensors(int64_t layers = kLayers) {
  Tensors t;
  const auto out = ramp({kKv, kInter}, 7), bias = ramp({kKv}, 8);
  for (int64_t i = 0; i < layers; ++i) {
    t.emplace_back(key(kVlmPrefix, i, "linear1.weight"), ramp({kInter, kHidden}, 10 * i + 1));
    t.emplace_back(key(kVlmPrefix, i, "linear1.bias"), ramp({kInter}, 10 * i + 2));
    t.emplace_back(key(kVlmPrefix, i, "linear2.weight"), ramp({kInter, kInter}, 10 * i + 3));
    t.emplace_back(key(kVlmPrefix, i, "linear2.bias"), ramp({kInter}, 10 * i + 4));
    t.emplace_back(key(kVlmPrefix, i, "linear3.weight"), out.clone());
    t.emplace_back(key(kVlmPrefix, i, "bias"), bias.clone());
  }
  return t;
}

GateSpec vlm_spec() {
  GateSpec spec;
  spec.layer_prefix = kVlmPrefix;
  spec.num_layers = kLayers;
  spec.hidden_size = kHidden;
  spec.num_kv_heads = kKv;
  spec.base_source = "/base/config.json";
  spec.gate_source = "/gates/config.json";
  return spec;
}

void write_pickle(const std::filesystem::path& path, const c10::IValue& value) {
  const auto bytes = torch::jit::pickle_save(value);
  test::write_file(path, std::string(bytes.begin(), bytes.end()));
}

void write_gates(const std::filesystem::path& path, const Tensors& tensors) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& [name, t] : tensors) dict.insert(name, t);
  write_pickle(path, dict);
}

at::Tensor& find(Tensors& tensors, const std::string& name) {
  for (auto& [n, t] : tensors)
    if (n == name) return t;
  throw std::runtime_error("test set has no " + name);
}

void erase(Tensors& tensors, const std::string& name) {
  std::erase_if(tensors, [&](const auto& p) { return p.first == name; });
}

// Loads and expects one Error whose text contains every fragment (the file name is always one).
void expect_error(const std::filesystem::path& path, const GateSpec& spec, std::vector<std::string> fragments,
                  Error::Kind kind = Error::Kind::InvalidInput) {
  try {
    load_gate_checkpoint(path, spec);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_EQ(e.file(), path.string()) << e.what();
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << "'" << f << "' not in: " << e.what();
  }
}

class GateCheckpointTest : public ::testing::Test {
 protected:
  test::TempDir dir;
  std::filesystem::path pth = dir / "trimkv_weights.pth";
};

TEST_F(GateCheckpointTest, LoadsRgWithEveryTensorInItsPlace) {
  auto tensors = rg_tensors();
  write_gates(pth, tensors);
  const auto g = load_gate_checkpoint(pth, vlm_spec());
  EXPECT_EQ(g.type, GateType::Rg);
  EXPECT_EQ(g.num_layers(), kLayers);
  EXPECT_EQ(g.intermediate_size, kInter);
  EXPECT_EQ(g.dtype, at::kBFloat16);
  EXPECT_FALSE(g.tied);
  EXPECT_EQ(g.file_tensors, 4 * kLayers);
  EXPECT_EQ(g.file_bytes, kLayers * (kInter * kHidden + kInter + kKv * kInter + kKv) * 2);
  for (int64_t i = 0; i < kLayers; ++i) {
    const auto& layer = g.layers[i];
    ASSERT_EQ(layer.hidden.size(), 1u);
    EXPECT_TRUE(at::equal(layer.hidden[0].weight, find(tensors, key(kVlmPrefix, i, "linear1.weight"))));
    EXPECT_TRUE(at::equal(layer.hidden[0].bias, find(tensors, key(kVlmPrefix, i, "linear1.bias"))));
    EXPECT_TRUE(at::equal(layer.out_weight, find(tensors, key(kVlmPrefix, i, "linear2.weight"))));
    EXPECT_TRUE(at::equal(layer.out_bias, find(tensors, key(kVlmPrefix, i, "bias"))));
    EXPECT_EQ(layer.out_weight.scalar_type(), at::kBFloat16);
  }
}

TEST_F(GateCheckpointTest, LoadsLlmGatesUnderTheLlmPrefix) {
  write_gates(pth, rg_tensors("model.layers."));
  auto spec = vlm_spec();
  spec.layer_prefix = "model.layers.";
  EXPECT_EQ(load_gate_checkpoint(pth, spec).layer_prefix, "model.layers.");
}

TEST_F(GateCheckpointTest, Rg10SharesOneOutputProjection) {
  auto tensors = rg10_tensors();
  write_gates(pth, tensors);
  auto spec = vlm_spec();
  spec.type = GateType::Rg10;
  const auto g = load_gate_checkpoint(pth, spec);
  EXPECT_EQ(g.type, GateType::Rg10);
  EXPECT_TRUE(g.tied);
  EXPECT_TRUE(g.tied_copies_differ.empty());
  for (int64_t i = 0; i < kLayers; ++i) {
    ASSERT_EQ(g.layers[i].hidden.size(), 2u);
    EXPECT_TRUE(at::equal(g.layers[i].hidden[1].weight, find(tensors, key(kVlmPrefix, i, "linear2.weight"))));
    EXPECT_TRUE(at::equal(g.layers[i].hidden[1].bias, find(tensors, key(kVlmPrefix, i, "linear2.bias"))));
    EXPECT_TRUE(g.layers[i].out_weight.is_same(g.layers[0].out_weight));
    EXPECT_TRUE(g.layers[i].out_bias.is_same(g.layers[0].out_bias));
  }
}

TEST_F(GateCheckpointTest, Rg10DifferingTiedCopiesLastLayerWins) {
  auto tensors = rg10_tensors(3);
  find(tensors, key(kVlmPrefix, 0, "linear3.weight")).add_(1);
  find(tensors, key(kVlmPrefix, 1, "bias")).add_(1);
  write_gates(pth, tensors);
  auto spec = vlm_spec();
  spec.num_layers = 3;
  const auto g = load_gate_checkpoint(pth, spec);
  EXPECT_EQ(g.tied_copies_differ, (std::vector<int64_t>{0, 1}));
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(at::equal(g.layers[i].out_weight, find(tensors, key(kVlmPrefix, 2, "linear3.weight"))));
    EXPECT_TRUE(at::equal(g.layers[i].out_bias, find(tensors, key(kVlmPrefix, 2, "bias"))));
  }
  EXPECT_FALSE(at::equal(g.layers[0].out_weight, find(tensors, key(kVlmPrefix, 0, "linear3.weight"))));
}

TEST_F(GateCheckpointTest, Rg10UntiedKeepsEachLayersProjection) {
  auto tensors = rg10_tensors();
  find(tensors, key(kVlmPrefix, 0, "linear3.weight")).add_(1);
  write_gates(pth, tensors);
  auto spec = vlm_spec();
  spec.tie_layers = false;
  const auto g = load_gate_checkpoint(pth, spec);
  EXPECT_FALSE(g.tied);
  EXPECT_TRUE(at::equal(g.layers[0].out_weight, find(tensors, key(kVlmPrefix, 0, "linear3.weight"))));
  EXPECT_TRUE(at::equal(g.layers[1].out_weight, find(tensors, key(kVlmPrefix, 1, "linear3.weight"))));
}

TEST_F(GateCheckpointTest, IntermediateSizeComesFromTheFile) {
  write_gates(pth, rg_tensors(kVlmPrefix, kLayers, kHidden, 16));
  EXPECT_EQ(load_gate_checkpoint(pth, vlm_spec()).intermediate_size, 16);
}

TEST_F(GateCheckpointTest, TypeNames) {
  EXPECT_EQ(parse_gate_type("rg"), GateType::Rg);
  EXPECT_EQ(parse_gate_type("rg10"), GateType::Rg10);
  EXPECT_EQ(gate_type_name(GateType::Rg10), "rg10");
  try {
    parse_gate_type("rg8");
    ADD_FAILURE() << "rg8 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::Unsupported);
    EXPECT_NE(std::string(e.what()).find("rg8"), std::string::npos);
  }
}

// ---- containers that are not a dict of tensors ----------------------------------------------

TEST_F(GateCheckpointTest, MissingFile) { expect_error(pth, vlm_spec(), {"not found"}, Error::Kind::NotFound); }

TEST_F(GateCheckpointTest, NotAZip) {
  test::write_file(pth, "these are not the weights you are looking for");
  expect_error(pth, vlm_spec(), {"not a torch.save archive"});
}

TEST_F(GateCheckpointTest, EmptyFile) {
  test::write_file(pth, "");
  expect_error(pth, vlm_spec(), {"empty file"});
}

TEST_F(GateCheckpointTest, TruncatedZip) {
  write_gates(pth, rg_tensors());
  const auto bytes = test::read_file(pth);
  test::write_file(pth, bytes.substr(0, bytes.size() / 2));
  expect_error(pth, vlm_spec(), {"cannot read the torch.save archive"});
}

TEST_F(GateCheckpointTest, ZipWithoutPickle) {
  std::string bytes;
  {
    caffe2::serialize::PyTorchStreamWriter writer([&](const void* data, size_t n) {
      bytes.append(static_cast<const char*>(data), n);
      return n;
    });
    writer.writeRecord("version", "3\n", 2);
    writer.writeEndOfFile();
  }
  test::write_file(pth, bytes);
  expect_error(pth, vlm_spec(), {"without data.pkl"});
}

TEST_F(GateCheckpointTest, DictOfInts) {
  c10::Dict<std::string, int64_t> dict;
  dict.insert("model.language_model.layers.0.self_attn.retention_gate.bias", 3);
  write_pickle(pth, dict);
  expect_error(pth, vlm_spec(), {"value is a int, expected a tensor", "retention_gate.bias"});
}

TEST_F(GateCheckpointTest, ListOfTensors) {
  c10::List<at::Tensor> list;
  list.push_back(ramp({2}, 0));
  write_pickle(pth, list);
  expect_error(pth, vlm_spec(), {"holds a list, expected a dict"});
}

TEST_F(GateCheckpointTest, NonStringKeys) {
  c10::Dict<int64_t, at::Tensor> dict;
  dict.insert(0, ramp({2}, 0));
  write_pickle(pth, dict);
  expect_error(pth, vlm_spec(), {"dict key of type int"});
}

TEST_F(GateCheckpointTest, EmptyDict) {
  write_gates(pth, {});
  expect_error(pth, vlm_spec(), {"empty dict"});
}

// ---- names, dtypes, shapes ------------------------------------------------------------------

TEST_F(GateCheckpointTest, NonGateTensor) {
  auto tensors = rg_tensors();
  tensors.emplace_back("model.language_model.embed_tokens.weight", ramp({4, kHidden}, 0));
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"not a retention-gate tensor", "embed_tokens"});
}

TEST_F(GateCheckpointTest, MissingTensor) {
  auto tensors = rg_tensors();
  erase(tensors, key(kVlmPrefix, 1, "linear1.bias"));
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"missing", key(kVlmPrefix, 1, "linear1.bias")});
}

TEST_F(GateCheckpointTest, UnexpectedTensor) {
  auto tensors = rg_tensors();
  tensors.emplace_back(key(kVlmPrefix, 0, "linear2.bias"), ramp({kKv}, 0));
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"unexpected tensor for an rg gate", key(kVlmPrefix, 0, "linear2.bias")});
}

TEST_F(GateCheckpointTest, LayerGap) {
  auto tensors = rg_tensors(kVlmPrefix, 3);
  for (const char* leaf : {"linear1.weight", "linear1.bias", "linear2.weight", "bias"}) erase(tensors, key(kVlmPrefix, 1, leaf));
  write_gates(pth, tensors);
  auto spec = vlm_spec();
  spec.num_layers = 3;
  expect_error(pth, spec, {"none exist for layer 1"});
}

TEST_F(GateCheckpointTest, WrongShape) {
  auto tensors = rg_tensors();
  find(tensors, key(kVlmPrefix, 1, "linear1.bias")) = ramp({kInter + 1}, 0);
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"shape [513], expected [512]", key(kVlmPrefix, 1, "linear1.bias")});
}

TEST_F(GateCheckpointTest, IntegerTensor) {
  auto tensors = rg_tensors();
  find(tensors, key(kVlmPrefix, 0, "bias")) = at::zeros({kKv}, at::kLong);
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"floating-point", key(kVlmPrefix, 0, "bias")});
}

TEST_F(GateCheckpointTest, MixedDtypes) {
  auto tensors = rg_tensors();
  auto& t = find(tensors, key(kVlmPrefix, 1, "bias"));
  t = t.to(at::kFloat);
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"one dtype", key(kVlmPrefix, 1, "bias")});
}

TEST_F(GateCheckpointTest, NonFiniteValues) {
  auto tensors = rg_tensors();
  find(tensors, key(kVlmPrefix, 1, "linear2.weight"))[0][3] = std::numeric_limits<float>::quiet_NaN();
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"NaN or infinite", key(kVlmPrefix, 1, "linear2.weight")});
  find(tensors, key(kVlmPrefix, 1, "linear2.weight")).zero_();
  find(tensors, key(kVlmPrefix, 0, "bias"))[1] = std::numeric_limits<float>::infinity();
  write_gates(pth, tensors);
  expect_error(pth, vlm_spec(), {"NaN or infinite", key(kVlmPrefix, 0, "bias")});
}

// ---- gates for another base model or another gate config ------------------------------------

TEST_F(GateCheckpointTest, DifferentHiddenSize) {
  write_gates(pth, rg_tensors());
  auto spec = vlm_spec();
  spec.hidden_size = 16;
  expect_error(pth, spec, {"hidden size 8", "hidden_size 16", "/base/config.json", "different base model"});
}

TEST_F(GateCheckpointTest, DifferentLayerCount) {
  write_gates(pth, rg_tensors());
  auto spec = vlm_spec();
  spec.num_layers = 3;
  expect_error(pth, spec, {"gates for 2 layers", "num_hidden_layers 3", "/base/config.json"});
}

TEST_F(GateCheckpointTest, MoreLayersThanTheBaseModel) {
  write_gates(pth, rg_tensors(kVlmPrefix, 3));
  expect_error(pth, vlm_spec(), {"gates for 3 layers", "num_hidden_layers 2", "/base/config.json", "different base model"});
}

TEST_F(GateCheckpointTest, DifferentKvHeads) {
  write_gates(pth, rg_tensors());
  auto spec = vlm_spec();
  spec.num_kv_heads = 4;
  expect_error(pth, spec, {"2 KV heads", "num_key_value_heads 4", "/base/config.json"});
}

TEST_F(GateCheckpointTest, LlmGatesForAVlm) {
  write_gates(pth, rg_tensors("model.layers."));
  expect_error(pth, vlm_spec(), {"'model.layers.{i}...'", "text-only LLM", "'model.language_model.layers.{i}...'"});
}

TEST_F(GateCheckpointTest, TypeDisagreesWithGateConfig) {
  write_gates(pth, rg_tensors());
  auto spec = vlm_spec();
  spec.type = GateType::Rg10;
  expect_error(pth, spec, {"holds rg gates", "/gates/config.json", "retention_gate 'rg10'"});
}

TEST_F(GateCheckpointTest, Rg10FileButGateConfigSaysRg) {
  write_gates(pth, rg10_tensors());
  auto spec = vlm_spec();
  spec.type = GateType::Rg;
  expect_error(pth, spec, {"holds rg10 gates (linear3 present)", "/gates/config.json", "retention_gate 'rg'"});
}

// rg10's out projection scores the KV heads as rg's does: a mismatch names the base model too.
TEST_F(GateCheckpointTest, Rg10DifferentKvHeads) {
  write_gates(pth, rg10_tensors());
  auto spec = vlm_spec();
  spec.num_kv_heads = 8;
  expect_error(pth, spec, {"2 KV heads", "linear3.weight", "num_key_value_heads 8", "/base/config.json"});
}

TEST_F(GateCheckpointTest, IntermediateDisagreesWithGateConfig) {
  write_gates(pth, rg_tensors());
  auto spec = vlm_spec();
  spec.intermediate_size = 256;
  expect_error(pth, spec, {"intermediate size 512", "retention_gate_intermediate_size 256", "/gates/config.json"});
}

}  // namespace
}  // namespace trimvl::cache
