#pragma once
// Random Qwen3-VL text checkpoints written by the tests themselves, for what needs no reference:
// bad-input cases (a tensor dropped, one added, a config key broken) and CPU-vs-GPU comparisons on
// the GPU machine, which has no reference venv. Tensor names are the Hugging Face ones (the golden
// tests prove them against checkpoints transformers writes).
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace trimvl::test {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// A qwen3_vl config.json: head_dim 16 != hidden / heads, GQA 2:1, 2 layers, vocab 97, untied.
nlohmann::json tiny_qwen3vl_config();

// fp32 tensors for `config` (its text_config): the language model, lm_head.weight unless tied,
// and one vision tensor the text decoder must leave alone. Weights ~ N(0, 0.1²), norms ~ 1 + N(0, 0.2²).
NamedTensors tiny_qwen3vl_tensors(const nlohmann::json& config, uint64_t seed);

// config.json + model.safetensors in `dir`.
void write_tiny_qwen3vl(const std::filesystem::path& dir, const nlohmann::json& config, const NamedTensors& tensors);

}  // namespace trimvl::test
