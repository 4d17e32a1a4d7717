// The Qwen3-VL text decoder on CUDA in bf16 against fp32 on the CPU, on a random tiny checkpoint
// (the GPU machine has no reference venv). Skips where no CUDA device exists.
//
// Tolerance: bf16 logits within 2e-2 of the fp32 logits' scale (max |e|), the bound the bf16 CPU
// golden test holds against transformers; prompts are a text prefill with DeepStack, one chunk
// that follows it (the cache's explicit causal mask) and decode steps.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "cache/full_cache.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/dtype.h"
#include "language/qwen3vl/text_config.h"
#include "language/qwen3vl/text_decoder.h"
#include "tests/language/qwen3vl_tiny_checkpoint.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::qwen3vl {
namespace {

using cache::ForwardTokens;
using cache::Modality;

// Logits of every forward of a fixed schedule: a 12-token prefill with 4 visual tokens and two
// DeepStack levels, a 5-token chunk, then 3 single tokens.
at::Tensor run_schedule(const TextDecoder& d) {
  const at::Tensor ids = at::arange(20, at::kLong) * 7 % 97;
  const at::Tensor positions = at::arange(20, at::kLong).expand({3, 20}).contiguous();
  const at::Tensor mask = at::zeros({12}, at::kBool);
  mask.narrow(0, 3, 4).fill_(true);
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const DeepstackInputs deepstack{mask, {at::normal(0.0, 0.5, {4, 24}, gen), at::normal(0.0, 0.5, {4, 24}, gen)}};
  cache::FullCache cache(static_cast<int>(d.model.config().num_hidden_layers));
  std::vector<at::Tensor> logits;
  int64_t start = 0;
  for (const int64_t size : {12, 5, 1, 1, 1}) {
    const at::Tensor embeds = d.model.embed(ids.narrow(0, start, size));
    logits.push_back(d.lm_head(d.model.forward(embeds, positions.narrow(1, start, size),
                                               ForwardTokens::uniform(size, Modality::Text), cache,
                                               start == 0 ? &deepstack : nullptr))
                         .to(at::kCPU, at::kFloat));
    start += size;
  }
  return at::cat(logits);
}

TEST(Qwen3VLTextGpu, Bf16OnCudaFollowsFp32OnCpu) {
  TRIMVL_REQUIRE_CUDA();
  test::TempDir dir;
  const auto config = test::tiny_qwen3vl_config();
  test::write_tiny_qwen3vl(dir.path(), config, test::tiny_qwen3vl_tensors(config, 17));
  const auto ckpt = io::SafetensorsCheckpoint::open(dir.path());
  const TextConfig text = TextConfig::load(dir / "config.json");
  const at::Tensor expected = run_schedule(TextDecoder::load(ckpt, text, at::kFloat, at::kCPU));
  const at::Tensor actual = run_schedule(TextDecoder::load(ckpt, text, at::kBFloat16, at::Device(at::kCUDA, 0)));
  const double scale = expected.abs().max().item<double>();
  EXPECT_TRUE(test::all_close(actual, expected, 0.0, 2e-2 * scale, "bf16 CUDA logits"));
}

// The attention the decoder relies on, alone and in fp32: on CUDA, FullCache's GQA attention with
// the end-aligned causal mask (a chunk after earlier tokens) and decode steps gives what it gives
// on the CPU, within fp32 accumulation-order differences.
TEST(Qwen3VLTextGpu, CacheAttentionOnCudaMatchesCpu) {
  TRIMVL_REQUIRE_CUDA();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(4);
  const at::Tensor q = at::normal(0.0, 1.0, {9, 6, 64}, gen), k = at::normal(0.0, 1.0, {9, 2, 64}, gen),
                   v = at::normal(0.0, 1.0, {9, 2, 64}, gen);
  const auto run = [&](c10::Device device) {
    cache::FullCache cache(1);
    std::vector<at::Tensor> outs;
    int64_t start = 0;
    for (const int64_t size : {5, 3, 1}) {
      cache::ForwardScope forward(cache, ForwardTokens::uniform(size, Modality::Text));
      outs.push_back(cache.attend(0, q.narrow(0, start, size).to(device), k.narrow(0, start, size).to(device),
                                  v.narrow(0, start, size).to(device), at::Tensor(), 0.125)
                         .to(at::kCPU));
      forward.commit();
      start += size;
    }
    return at::cat(outs);
  };
  EXPECT_TRUE(test::all_close(run(at::Device(at::kCUDA, 0)), run(at::kCPU), 1e-4, 1e-5, "CUDA attention"));
}

}  // namespace
}  // namespace trimvl::qwen3vl
