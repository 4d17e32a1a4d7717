#include "vision/qwen3vl/vision_config.h"

#include <cmath>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "kernels/runtime/error.h"

namespace trimvl::vision::qwen3vl {

int64_t VisionConfig::position_grid_side() const {
  auto side = static_cast<int64_t>(std::sqrt(static_cast<double>(num_position_embeddings)));
  while (side * side > num_position_embeddings) --side;
  while ((side + 1) * (side + 1) <= num_position_embeddings) ++side;
  return side;
}

VisionConfig parse_vision_config(const ConfigObject& v) {
  VisionConfig c;
  c.depth = v.integer("depth", c.depth);
  c.hidden_size = v.integer("hidden_size", c.hidden_size);
  c.intermediate_size = v.integer("intermediate_size", c.intermediate_size);
  c.num_heads = v.integer("num_heads", c.num_heads);
  c.hidden_act = v.string("hidden_act", c.hidden_act);
  c.in_channels = v.integer("in_channels", c.in_channels);
  c.patch_size = v.integer("patch_size", c.patch_size);
  c.temporal_patch_size = v.integer("temporal_patch_size", c.temporal_patch_size);
  c.spatial_merge_size = v.integer("spatial_merge_size", c.spatial_merge_size);
  c.out_hidden_size = v.integer("out_hidden_size", c.out_hidden_size);
  c.num_position_embeddings = v.integer("num_position_embeddings", c.num_position_embeddings);
  c.deepstack_visual_indexes = v.integers("deepstack_visual_indexes", c.deepstack_visual_indexes);

  for (auto [key, value] : {std::pair<const char*, int64_t>{"depth", c.depth}, {"hidden_size", c.hidden_size},
                            {"intermediate_size", c.intermediate_size}, {"num_heads", c.num_heads},
                            {"in_channels", c.in_channels}, {"patch_size", c.patch_size},
                            {"temporal_patch_size", c.temporal_patch_size},
                            {"spatial_merge_size", c.spatial_merge_size}, {"out_hidden_size", c.out_hidden_size},
                            {"num_position_embeddings", c.num_position_embeddings}})
    if (value <= 0) throw v.error(key, fmt::format("must be positive, got {}", value));
  if (c.hidden_size % c.num_heads != 0)
    throw v.error("num_heads", fmt::format("{} does not divide hidden_size {}", c.num_heads, c.hidden_size));
  if (c.head_dim() % 4 != 0)
    throw v.error("num_heads", fmt::format("head_dim = hidden_size / num_heads = {} is not a multiple of 4, which the "
                                           "2-D rotary embedding needs (rotate-half pairs on two axes)",
                                           c.head_dim()));
  // transformers takes int(sqrt(n)) and silently mis-indexes a table that is not square.
  if (const int64_t side = c.position_grid_side(); side * side != c.num_position_embeddings)
    throw v.error("num_position_embeddings",
                  fmt::format("{} is not a square number (the learned positions form a square grid)",
                              c.num_position_embeddings));
  if (c.hidden_act != "gelu_pytorch_tanh" && c.hidden_act != "gelu")
    throw Error(fmt::format("key '{}': activation '{}' is not supported (gelu_pytorch_tanh or gelu)",
                            v.key_path("hidden_act"), c.hidden_act),
                Error::Kind::Unsupported)
        .file(v.file());
  std::set<int64_t> seen;
  for (const int64_t index : c.deepstack_visual_indexes) {
    if (index < 0 || index >= c.depth)
      throw v.error("deepstack_visual_indexes",
                    fmt::format("index {} is not a block of a depth-{} encoder", index, c.depth));
    if (!seen.insert(index).second)
      throw v.error("deepstack_visual_indexes",
                    fmt::format("block {} is listed twice in [{}]", index, fmt::join(c.deepstack_visual_indexes, ", ")));
  }
  return c;
}

VisionConfig load_vision_config(const std::filesystem::path& config_json) {
  const nlohmann::json json = read_json_file(config_json);
  const ConfigObject top(json, config_json.string());
  const std::string type = top.string("model_type");
  if (type != "qwen3_vl")
    throw Error(fmt::format("key 'model_type': '{}' is not a Qwen3-VL checkpoint (expected 'qwen3_vl')", type),
                Error::Kind::Unsupported)
        .file(config_json.string());
  if (auto vision = top.object("vision_config")) return parse_vision_config(*vision);
  static const nlohmann::json empty = nlohmann::json::object();
  return parse_vision_config(ConfigObject(empty, config_json.string(), "vision_config"));
}

}  // namespace trimvl::vision::qwen3vl
