#pragma once
// Retention gates beside a model: a gate directory's config fields and the checkpoint, validated
// against the base model the gates are meant for. Shared by `trimvl info` (which reports them) and
// the pipeline (which runs them).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "app/snapshot.h"
#include "cache/gate_checkpoint.h"

namespace trimvl::app {

// The gate fields of a gate directory's config.json. trimkv keeps them in text_config for VLMs and
// at the top level for LLMs; text_config wins.
struct GateConfig {
  std::optional<std::string> retention_gate;  // rg | rg10
  std::optional<int64_t> memory_size;         // the budget the gates were trained or published with
  std::optional<int64_t> buffer_size;
  std::optional<int64_t> intermediate_size;
  bool tie_layers = true;
};
GateConfig read_gate_config(const std::filesystem::path& config_json);

// Loads `gates.weights` against `base` — the base model's sizes (e.g. qwen3vl::TextModel::gate_spec)
// and base_source — completed with the gate directory's config fields; every mismatch is an Error
// naming both files and both values.
cache::GateCheckpoint load_gates(const GateFiles& gates, cache::GateSpec base);

// `dir` as a gate directory given on its own (--gates): config.json and trimkv_weights.pth must be
// there. Throws NotFound naming what is missing.
GateFiles gate_directory(const std::filesystem::path& dir);

}  // namespace trimvl::app
