// Gate files written by trimkv 0.1.5's own model classes with Python's torch.save
// (tests/golden/gen_checkpoints.py), loaded by us and compared with the tensors the reference runs
// after its own load path (key check + load_state_dict).
#include "cache/gate_checkpoint.h"

#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::cache {
namespace {

struct Golden {
  std::filesystem::path dir = test::golden_dir("checkpoints");
  nlohmann::json expected = nlohmann::json::parse(test::read_file(dir / "expected.json"));

  // The base model a gate directory names: the hub repo, or a relative path to a model folder.
  const nlohmann::json& base_of(const nlohmann::json& gate) const {
    const std::string base = gate.at("base_model");
    const std::string key = base == expected.at("hub_repo").get<std::string>() ? "qwen3vl" : std::filesystem::path(base).filename().string();
    return expected.at("models").at(key);
  }

  GateSpec spec_for(const nlohmann::json& base, const nlohmann::json& gate) const {
    GateSpec spec;
    const auto& text = base.at("text");
    const std::string type = base.at("model_type");
    spec.layer_prefix = type == "qwen3" || type == "llama" ? "model.layers." : "model.language_model.layers.";
    spec.num_layers = text.at("num_hidden_layers");
    spec.hidden_size = text.at("hidden_size");
    spec.num_kv_heads = text.at("num_key_value_heads");
    spec.base_source = "base config.json";
    if (!gate.is_null()) {
      spec.type = parse_gate_type(gate.at("retention_gate").get<std::string>());
      spec.intermediate_size = gate.at("intermediate_size");
    }
    spec.gate_source = "gate config.json";
    return spec;
  }
};

std::string key(const GateCheckpoint& g, int64_t layer, const std::string& leaf) {
  return g.layer_prefix + std::to_string(layer) + ".self_attn.retention_gate." + leaf;
}

TEST(GateCheckpointGolden, LoadsWhatTheReferenceRuns) {
  const Golden golden;
  ASSERT_FALSE(golden.expected.at("gates").empty());
  for (const auto& [name, facts] : golden.expected.at("gates").items()) {
    SCOPED_TRACE(name);
    const auto g = load_gate_checkpoint(golden.dir / "gates" / name / "trimkv_weights.pth",
                                        golden.spec_for(golden.base_of(facts), facts));
    EXPECT_EQ(gate_type_name(g.type), facts.at("type").get<std::string>());
    EXPECT_EQ(g.num_layers(), facts.at("layers").get<int64_t>());
    EXPECT_EQ(g.file_tensors, facts.at("tensors").get<int64_t>());
    EXPECT_EQ(g.file_bytes, facts.at("bytes").get<int64_t>());
    EXPECT_EQ(g.dtype, at::kBFloat16);
    EXPECT_EQ(g.intermediate_size, facts.at("intermediate_size").get<int64_t>());
    EXPECT_EQ(g.tied, facts.at("tied").get<bool>());
    EXPECT_EQ(g.tied_copies_differ, facts.at("tied_copies_differ").get<std::vector<int64_t>>());

    // Every tensor the reference holds after loading, in its own names, equals ours bit for bit.
    const auto reference = io::SafetensorsFile::open(golden.dir / "gates_expected" / (name + ".safetensors"));
    const std::string out = g.type == GateType::Rg ? "linear2.weight" : "linear3.weight";
    size_t compared = 0;
    auto expect_equal = [&](const at::Tensor& ours, int64_t layer, const std::string& leaf) {
      const auto theirs = reference.tensor(key(g, layer, leaf));
      EXPECT_TRUE(ours.scalar_type() == theirs.scalar_type() && at::equal(ours, theirs)) << key(g, layer, leaf);
      ++compared;
    };
    for (int64_t i = 0; i < g.num_layers(); ++i) {
      const auto& layer = g.layers[i];
      expect_equal(layer.hidden[0].weight, i, "linear1.weight");
      expect_equal(layer.hidden[0].bias, i, "linear1.bias");
      if (g.type == GateType::Rg10) {
        expect_equal(layer.hidden[1].weight, i, "linear2.weight");
        expect_equal(layer.hidden[1].bias, i, "linear2.bias");
      }
      expect_equal(layer.out_weight, i, out);
      expect_equal(layer.out_bias, i, "bias");
    }
    EXPECT_EQ(compared, reference.tensors().size());
  }
}

void expect_error(const std::filesystem::path& path, const GateSpec& spec, const std::vector<std::string>& fragments) {
  try {
    load_gate_checkpoint(path, spec);
    ADD_FAILURE() << "no error for " << path;
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), path.string());
    for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
}

TEST(GateCheckpointGolden, PythonOnlyContainersGetTheirOwnMessage) {
  const Golden golden;
  const auto spec = golden.spec_for(golden.expected.at("models").at("qwen3vl"), nullptr);
  expect_error(golden.dir / "bad" / "ordered-dict.pth", spec, {"OrderedDict", "torch.save(dict(torch.load(p)), p)"});
  expect_error(golden.dir / "bad" / "legacy.pth", spec, {"legacy (non-zip) torch.save format"});
}

TEST(GateCheckpointGolden, LlmGatesOfTheSameSizesAreRefusedForAVlm) {
  const Golden golden;
  const auto spec = golden.spec_for(golden.expected.at("models").at("qwen3vl"), nullptr);
  expect_error(golden.dir / "gates" / "llm-gates-on-vlm" / "trimkv_weights.pth", spec,
               {"'model.layers.{i}...'", "'model.language_model.layers.{i}...'", "different architecture"});
}

}  // namespace
}  // namespace trimvl::cache
