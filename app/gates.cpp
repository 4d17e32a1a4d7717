#include "app/gates.h"

#include <fmt/format.h>

#include "kernels/runtime/config_json.h"
#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace fs = std::filesystem;

GateConfig read_gate_config(const fs::path& config_json) {
  const auto json = read_json_file(config_json);
  const ConfigObject top(json, config_json.string());
  const auto text = top.object("text_config");
  auto holder = [&](std::string_view key) -> const ConfigObject* {
    if (text && text->has(key)) return &*text;
    return top.has(key) ? &top : nullptr;
  };
  GateConfig config;
  if (auto c = holder("retention_gate")) config.retention_gate = c->string("retention_gate");
  if (auto c = holder("memory_size")) config.memory_size = c->integer("memory_size");
  if (auto c = holder("buffer_size")) config.buffer_size = c->integer("buffer_size");
  if (auto c = holder("retention_gate_intermediate_size"))
    config.intermediate_size = c->integer("retention_gate_intermediate_size");
  if (auto c = holder("tie_retention_gate_layers")) config.tie_layers = c->boolean("tie_retention_gate_layers", true);
  return config;
}

cache::GateCheckpoint load_gates(const GateFiles& gates, cache::GateSpec spec) {
  const GateConfig config = read_gate_config(gates.config);
  spec.gate_source = gates.config.string();
  if (config.retention_gate) {
    try {
      spec.type = cache::parse_gate_type(*config.retention_gate);
    } catch (Error& e) {
      throw e.file(gates.config.string());
    }
  }
  spec.intermediate_size = config.intermediate_size;
  spec.tie_layers = config.tie_layers;
  return cache::load_gate_checkpoint(gates.weights, spec);
}

GateFiles gate_directory(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("--gates must name a directory holding trimkv_weights.pth and config.json", Error::Kind::NotFound)
        .file(dir.string());
  GateFiles gates{dir, dir / "config.json", dir / "trimkv_weights.pth", std::nullopt};
  for (const fs::path& file : {gates.config, gates.weights})
    if (!fs::is_regular_file(file, ec))
      throw Error(fmt::format("not a gate directory: {} is missing", file.filename().string()), Error::Kind::NotFound)
          .file(dir.string());
  const auto json = read_json_file(gates.config);
  gates.base_model = ConfigObject(json, gates.config.string()).optional_string("base_model");
  return gates;
}

}  // namespace trimvl::app
