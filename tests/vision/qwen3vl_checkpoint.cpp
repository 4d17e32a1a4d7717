#include "tests/vision/qwen3vl_checkpoint.h"

#include <cmath>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "kernels/io/safetensors.h"
#include "tests/support/test_env.h"

namespace trimvl::vision::qwen3vl::test {

NamedTensors random_vision_weights(const VisionConfig& c, uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  NamedTensors out;
  const auto normal = [&](std::vector<int64_t> shape, double stddev, double mean = 0.0) {
    return at::normal(mean, stddev, shape, gen);
  };
  const auto linear = [&](const std::string& name, int64_t in, int64_t outputs) {
    out.emplace_back(name + ".weight", normal({outputs, in}, 1.0 / std::sqrt(static_cast<double>(in))));
    out.emplace_back(name + ".bias", normal({outputs}, 0.02));
  };
  const auto layer_norm = [&](const std::string& name, int64_t dim) {
    out.emplace_back(name + ".weight", normal({dim}, 0.1, 1.0));
    out.emplace_back(name + ".bias", normal({dim}, 0.1));
  };
  const std::string v = "model.visual.";
  out.emplace_back(v + "patch_embed.proj.weight",
                   normal({c.hidden_size, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size},
                          1.0 / std::sqrt(static_cast<double>(c.patch_dim()))));
  out.emplace_back(v + "patch_embed.proj.bias", normal({c.hidden_size}, 0.02));
  out.emplace_back(v + "pos_embed.weight", normal({c.num_position_embeddings, c.hidden_size}, 0.5));
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = v + "blocks." + std::to_string(i) + ".";
    layer_norm(b + "norm1", c.hidden_size);
    layer_norm(b + "norm2", c.hidden_size);
    linear(b + "attn.qkv", c.hidden_size, 3 * c.hidden_size);
    linear(b + "attn.proj", c.hidden_size, c.hidden_size);
    linear(b + "mlp.linear_fc1", c.hidden_size, c.intermediate_size);
    linear(b + "mlp.linear_fc2", c.intermediate_size, c.hidden_size);
  }
  const auto merger = [&](const std::string& name, int64_t norm_dim) {
    layer_norm(name + ".norm", norm_dim);
    linear(name + ".linear_fc1", c.merged_hidden_size(), c.merged_hidden_size());
    linear(name + ".linear_fc2", c.merged_hidden_size(), c.out_hidden_size);
  };
  merger(v + "merger", c.hidden_size);
  for (size_t j = 0; j < c.deepstack_visual_indexes.size(); ++j)
    merger(v + "deepstack_merger_list." + std::to_string(j), c.merged_hidden_size());
  return out;
}

VisionConfig vision_config_from(const nlohmann::json& vision_config) {
  return parse_vision_config(ConfigObject(vision_config, "<test vision_config>"));
}

void write_vision_checkpoint(const std::filesystem::path& dir, const nlohmann::json& vision_config,
                             const NamedTensors& tensors) {
  const nlohmann::json config = {{"model_type", "qwen3_vl"}, {"vision_config", vision_config}};
  trimvl::test::write_file(dir / "config.json", config.dump(2));
  io::save_safetensors(dir / "model.safetensors", tensors);
}

nlohmann::json small_vision_config() {
  return {{"depth", 3},
          {"hidden_size", 128},
          {"intermediate_size", 160},
          {"num_heads", 2},
          {"patch_size", 8},
          {"num_position_embeddings", 36},
          {"out_hidden_size", 24},
          {"deepstack_visual_indexes", {0, 2}}};
}

}  // namespace trimvl::vision::qwen3vl::test
