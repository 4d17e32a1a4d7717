// TrimKV and DBTrimKV end to end against trimkv 0.1.5's own model and caches
// (tests/golden/gen_trimkv_e2e.py): the Qwen3-VL text decoder with retention gates loaded from a
// real trimkv_weights.pth, cache::PagedKvCache under cache::make_policy, and a greedy loop over an
// image prompt whose prefill the cache must cut to budget at once and then every few decode steps.
// The language model's inputs are replayed as the reference's language model received them
// (embeddings after the visual scatter, M-RoPE rows, DeepStack features), so the vision tower is
// not part of this test.
//
// Per configuration (rg gates under TrimKVCache semantics, rg10 gates under PagedTrimKVCache's
// global top-k, with a per-head floor, with lookahead 2, and the threshold strategy):
//   - the greedy tokens are identical (fp32);
//   - every step's logits are within |a − e| <= 1e-4 + 1e-4·|e| (fp32 on both sides; the
//     attention sums run in another order; measured: at most 2.1e-6 over 28 steps);
//   - after every forward, each (layer, kv-head) holds exactly the reference's stream positions,
//     in order, with log β within 1e-5. The generator checked that no eviction is decided by less
//     than 1e-4 of the scores at its boundary, so these are the algorithm's decisions, not rounding.
#include <algorithm>
#include <iostream>

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/gate_checkpoint.h"
#include "cache/paged_kv_cache.h"
#include "cache/policy.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/config_json.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_decoder.h"
#include "tests/support/golden.h"

namespace trimvl::qwen3vl {
namespace {

namespace fs = std::filesystem;
using cache::ForwardTokens;
using cache::Modality;

constexpr double kLogitTol = 1e-4, kLogBetaTol = 1e-5;

std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

class TrimKvE2eGolden : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir = test::golden_dir("trimkv_e2e");
  nlohmann::json expected = read_json_file(dir / "expected.json");
  nlohmann::json settings = expected.at("configs").at(GetParam());
  io::SafetensorsFile inputs = io::SafetensorsFile::open(dir / "inputs.safetensors");
  io::SafetensorsFile reference = io::SafetensorsFile::open(dir / (GetParam() + ".safetensors"));
  TextConfig config = TextConfig::load(dir / "base" / "config.json");

  // The gate directory as trimvl reads one: the sizes from the base model, the gate fields from the
  // directory's config.json (text_config for a VLM).
  cache::GateCheckpoint gates() const {
    const fs::path gate_dir = dir / settings.at("gates_dir").get<std::string>();
    const auto gate_config = read_json_file(gate_dir / "config.json").at("text_config");
    cache::GateSpec spec = TextModel::gate_spec(config);
    spec.type = cache::parse_gate_type(gate_config.at("retention_gate").get<std::string>());
    spec.intermediate_size = gate_config.at("retention_gate_intermediate_size").get<int64_t>();
    spec.tie_layers = gate_config.at("tie_retention_gate_layers").get<bool>();
    spec.gate_source = (gate_dir / "config.json").string();
    return cache::load_gate_checkpoint(gate_dir / "trimkv_weights.pth", spec);
  }

  cache::PolicyOptions policy() const {
    cache::PolicyOptions o;
    o.kind = cache::parse_policy(settings.at("policy").get<std::string>());
    o.budget = settings.value("budget", int64_t{0});
    o.buffer = settings.at("buffer").get<int64_t>();
    o.strategy = cache::parse_strategy(settings.value("strategy", std::string("fixed_budget")));
    o.alpha = settings.value("alpha", o.alpha);
    o.min_per_head = settings.value("min_per_head", int64_t{0});
    o.lookahead = settings.at("lookahead").get<int64_t>();
    return o;
  }

  // The retained streams the reference held after forward `f`, against ours.
  void expect_retained(const cache::PagedKvCache& cache, int64_t f, int64_t& offset) const {
    SCOPED_TRACE("after forward " + std::to_string(f));
    const auto lengths = to_vector(reference.tensor("retained_lengths")[f]);
    ASSERT_EQ(cache.lengths(), lengths);
    const at::Tensor positions = reference.tensor("retained_positions"), log_beta = reference.tensor("retained_log_beta");
    for (int layer = 0; layer < cache.num_layers(); ++layer)
      for (int head = 0; head < config.num_key_value_heads; ++head) {
        const int64_t n = lengths[static_cast<size_t>(layer * config.num_key_value_heads + head)];
        SCOPED_TRACE(fmt::format("layer {} head {}", layer, head));
        EXPECT_EQ(to_vector(cache.positions(layer, head)), to_vector(positions.narrow(0, offset, n)));
        if (n > 0) {
          TRIMVL_EXPECT_CLOSE(cache.log_beta(layer, head).to(at::kFloat), log_beta.narrow(0, offset, n), 0.0, kLogBetaTol);
        }
        offset += n;
      }
  }
};

TEST_P(TrimKvE2eGolden, GreedyGenerationMatchesTrimkv) {
  const auto checkpoint = io::SafetensorsCheckpoint::open(dir / "base");
  const cache::GateCheckpoint gate_checkpoint = gates();
  const TextDecoder d = TextDecoder::load(checkpoint, config, at::kFloat, at::kCPU, &gate_checkpoint);
  ASSERT_TRUE(d.model.has_gates());

  const at::Tensor embeds = inputs.tensor("inputs_embeds"), positions = inputs.tensor("positions");
  const at::Tensor mask = inputs.tensor("visual_mask").to(at::kBool);
  const int64_t prompt = embeds.size(0);
  const at::Tensor expected_tokens = reference.tensor("tokens"), expected_logits = reference.tensor("logits");
  const int64_t steps = expected_tokens.size(0);
  ASSERT_EQ(positions.size(1), prompt + steps - 1);

  cache::PagedCacheOptions options;
  options.num_layers = static_cast<int>(config.num_hidden_layers);
  options.num_kv_heads = static_cast<int>(config.num_key_value_heads);
  options.head_dim = config.head_dim;
  options.dtype = at::kFloat;
  options.max_forward_tokens = prompt;
  cache::PagedKvCache cache(options, cache::make_policy(policy()));

  ForwardTokens prompt_tokens;
  for (int64_t i = 0; i < prompt; ++i)
    prompt_tokens.info.push_back({.modality = mask[i].item<bool>() ? Modality::Image : Modality::Text});
  DeepstackInputs deepstack{mask, {}};
  for (const at::Tensor& level : inputs.tensor("deepstack").unbind(0)) deepstack.features.push_back(level);
  at::Tensor hidden = d.model.forward(embeds, positions.narrow(1, 0, prompt), prompt_tokens, cache, &deepstack);

  int64_t retained_offset = 0;
  std::vector<int64_t> generated;
  double worst = 0;
  for (int64_t step = 0; step < steps; ++step) {
    expect_retained(cache, step, retained_offset);
    if (HasFatalFailure()) return;
    const at::Tensor logits = d.lm_head(hidden.narrow(0, -1, 1))[0];
    EXPECT_TRUE(test::all_close(logits, expected_logits[step], kLogitTol, kLogitTol, fmt::format("logits[{}]", step)));
    worst = std::max(worst, (logits - expected_logits[step]).abs().max().item<double>());
    generated.push_back(logits.argmax().item<int64_t>());
    // A different token would make every later step compare different continuations.
    ASSERT_EQ(generated.back(), expected_tokens[step].item<int64_t>()) << "greedy token " << step;
    if (step + 1 == steps) break;
    hidden = d.model.forward(d.model.embed(at::tensor({generated.back()}, at::kLong)),
                             positions.narrow(1, prompt + step, 1), ForwardTokens::uniform(1, Modality::Generated), cache);
  }
  std::cout << "[ measured ] " << GetParam() << ": max |logit error| " << worst << " over " << steps << " steps, "
            << cache.counters().evictions << " evictions\n";
  EXPECT_EQ(generated, to_vector(expected_tokens));
  EXPECT_EQ(cache.seen_tokens(), prompt + steps - 1);
  // The generator made sure each configuration evicts after the prefill and again while decoding.
  EXPECT_EQ(cache.counters().evictions, static_cast<int64_t>(settings.at("evictions").size()));
}

INSTANTIATE_TEST_SUITE_P(Configs, TrimKvE2eGolden,
                         ::testing::Values("trimkv", "trimkv_lookahead2", "dbtrimkv", "dbtrimkv_floor",
                                           "dbtrimkv_lookahead2", "dbtrimkv_threshold"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace trimvl::qwen3vl
