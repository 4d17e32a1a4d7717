// The Qwen3-VL text decoder against transformers 4.57.1 (tests/golden/gen_qwen3vl_text.py): the
// language model alone, on two tiny fp32 checkpoints HF wrote — "gqa4" (head_dim 128, GQA 4:1,
// three DeepStack levels, tied lm_head) and "odd" (head_dim 64, GQA 3:1, two levels from vision
// taps [0, 2], untied lm_head).
//
// Tolerances: fp32 logits within |a − e| <= 1e-4 + 1e-4·|e| (the logits reach ±4; both sides run
// the same fp32 ops, differing only in accumulation order inside GEMM and SDPA). bf16 logits
// against HF's bf16 run within 2e-2 of the logits' scale (max |e|): bf16 keeps 8 significant
// bits, and rounding differences compound over the layers. Greedy tokens must be identical.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/full_cache.h"
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

constexpr double kRtol = 1e-4, kAtol = 1e-4;

class Qwen3VLTextGolden : public ::testing::TestWithParam<std::string> {
 protected:
  fs::path dir = test::golden_dir("qwen3vl_text") / GetParam();
  io::SafetensorsFile cases = io::SafetensorsFile::open(dir / "cases.safetensors");
  io::SafetensorsCheckpoint checkpoint = io::SafetensorsCheckpoint::open(dir / "model");
  TextConfig config = TextConfig::load(dir / "model" / "config.json");

  at::Tensor input(const std::string& name) const { return cases.tensor(name); }
  TextDecoder load(at::ScalarType dtype) const { return TextDecoder::load(checkpoint, config, dtype, at::kCPU); }
  cache::FullCache new_cache() const { return cache::FullCache(static_cast<int>(config.num_hidden_layers)); }

  // Case (ii): the image prompt's embeddings with its DeepStack features, in one forward.
  at::Tensor image_logits(const TextDecoder& d) const {
    const at::Tensor mask = input("image_mask").to(at::kBool);
    DeepstackInputs deepstack{mask, {}};
    for (const at::Tensor& level : input("deepstack").unbind(0)) deepstack.features.push_back(level);
    cache::FullCache cache = new_cache();
    ForwardTokens tokens;
    for (int64_t i = 0; i < mask.size(0); ++i)
      tokens.info.push_back({.modality = mask[i].item<bool>() ? Modality::Image : Modality::Text});
    return d.lm_head(d.model.forward(input("image_embeds").to(d.model.dtype()), input("image_positions"), tokens,
                                     cache, &deepstack));
  }

  at::Tensor text_logits(const TextDecoder& d) const {
    cache::FullCache cache = new_cache();
    const at::Tensor ids = input("text_ids");
    return d.lm_head(d.model.forward(d.model.embed(ids), input("text_positions"),
                                     ForwardTokens::uniform(ids.size(0), Modality::Text), cache));
  }
};

// The config as transformers reads it, defaults included.
TEST_P(Qwen3VLTextGolden, ConfigMatchesTransformers) {
  const auto expected = read_json_file(test::golden_dir("qwen3vl_text") / "expected.json").at(GetParam()).at("text_config");
  EXPECT_EQ(config.vocab_size, expected.at("vocab_size"));
  EXPECT_EQ(config.hidden_size, expected.at("hidden_size"));
  EXPECT_EQ(config.intermediate_size, expected.at("intermediate_size"));
  EXPECT_EQ(config.num_hidden_layers, expected.at("num_hidden_layers"));
  EXPECT_EQ(config.num_attention_heads, expected.at("num_attention_heads"));
  EXPECT_EQ(config.num_key_value_heads, expected.at("num_key_value_heads"));
  EXPECT_EQ(config.head_dim, expected.at("head_dim"));
  EXPECT_EQ(config.hidden_act, expected.at("hidden_act").get<std::string>());
  EXPECT_EQ(config.max_position_embeddings, expected.at("max_position_embeddings"));
  EXPECT_EQ(config.rms_norm_eps, expected.at("rms_norm_eps"));
  EXPECT_EQ(config.rope_theta, expected.at("rope_theta"));
  EXPECT_EQ(config.mrope_section, expected.at("mrope_section").get<std::vector<int64_t>>());
  EXPECT_EQ(config.tie_word_embeddings, expected.at("lm_head_tied"));
}

// (i) Text only, positions as HF's get_rope_index computes them.
TEST_P(Qwen3VLTextGolden, TextLogits) {
  TRIMVL_EXPECT_CLOSE(text_logits(load(at::kFloat)), input("text_logits"), kRtol, kAtol);
}

// (ii) Visual embeddings at the image's pad tokens, 3-row M-RoPE positions that differ per row,
// DeepStack features after the first layers.
TEST_P(Qwen3VLTextGolden, ImageLogits) {
  TRIMVL_EXPECT_CLOSE(image_logits(load(at::kFloat)), input("image_logits"), kRtol, kAtol);
}

// (iii) The same prompt in two chunks split inside the image (DeepStack rows on both sides), then
// single decode tokens, against HF's own cache-based incremental run.
TEST_P(Qwen3VLTextGolden, ChunkedPrefillAndDecodeLogits) {
  const TextDecoder d = load(at::kFloat);
  const at::Tensor mask = at::cat({input("image_mask").to(at::kBool), at::zeros({input("decode_ids").size(0)}, at::kBool)});
  const at::Tensor embeds = at::cat({input("image_embeds"), d.model.embed(input("decode_ids"))});
  const at::Tensor positions = input("chunked_positions"), deepstack = input("deepstack");
  cache::FullCache cache = new_cache();
  std::vector<at::Tensor> logits;
  int64_t start = 0, visual_seen = 0;
  for (const int64_t size : std::vector<int64_t>(input("chunk_sizes").data_ptr<int64_t>(),
                                                 input("chunk_sizes").data_ptr<int64_t>() + input("chunk_sizes").numel())) {
    const at::Tensor chunk_mask = mask.narrow(0, start, size);
    const int64_t visual = chunk_mask.sum().item<int64_t>();
    DeepstackInputs ds{chunk_mask, {}};
    for (const at::Tensor& level : deepstack.unbind(0)) ds.features.push_back(level.narrow(0, visual_seen, visual));
    logits.push_back(d.lm_head(d.model.forward(embeds.narrow(0, start, size), positions.narrow(1, start, size),
                                               ForwardTokens::uniform(size, Modality::Text), cache,
                                               visual > 0 ? &ds : nullptr)));
    start += size;
    visual_seen += visual;
  }
  EXPECT_EQ(cache.seen_tokens(), embeds.size(0));
  TRIMVL_EXPECT_CLOSE(at::cat(logits), input("chunked_logits"), kRtol, kAtol);
}

// generate(do_sample=False, max_new_tokens=32) on a text prompt, driven here by argmax over our
// logits for the last position: the same 32 tokens.
TEST_P(Qwen3VLTextGolden, GreedyContinuation) {
  const TextDecoder d = load(at::kFloat);
  const at::Tensor prompt = input("greedy_prompt"), expected = input("greedy_ids");
  cache::FullCache cache = new_cache();
  const auto positions = [](int64_t from, int64_t n) { return at::arange(from, from + n).expand({3, n}).contiguous(); };
  at::Tensor hidden = d.model.forward(d.model.embed(prompt), positions(0, prompt.size(0)),
                                      ForwardTokens::uniform(prompt.size(0), Modality::Text), cache);
  std::vector<int64_t> generated;
  for (int64_t step = 0; step < expected.size(0); ++step) {
    const at::Tensor next = d.lm_head(hidden.narrow(0, -1, 1)).argmax(-1);
    generated.push_back(next.item<int64_t>());
    hidden = d.model.forward(d.model.embed(next), positions(cache.seen_tokens(), 1),
                             ForwardTokens::uniform(1, Modality::Generated), cache);
  }
  EXPECT_EQ(generated, std::vector<int64_t>(expected.data_ptr<int64_t>(), expected.data_ptr<int64_t>() + expected.numel()));
}

// bf16 weights and activations against HF's bf16 run of cases (i) and (ii).
TEST_P(Qwen3VLTextGolden, Bf16Logits) {
  const TextDecoder d = load(at::kBFloat16);
  for (const auto& [actual, name] : {std::pair{text_logits(d), "bf16_text_logits"}, {image_logits(d), "bf16_image_logits"}}) {
    const at::Tensor expected = input(name);
    EXPECT_EQ(actual.scalar_type(), at::kBFloat16);
    const double scale = expected.abs().max().item<double>();
    EXPECT_TRUE(test::all_close(actual, expected, 0.0, 2e-2 * scale, name));
  }
}

INSTANTIATE_TEST_SUITE_P(Models, Qwen3VLTextGolden, ::testing::Values("gqa4", "odd"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace trimvl::qwen3vl
