// The Qwen3-VL text decoder on CUDA — with the fused kernels (kernels/ops: RMSNorm, residual add +
// RMSNorm, q/k-norm + RoPE, SiLU·mul) and the stacked q/k/v and gate/up GEMMs — against fp32 on
// the CPU (the ATen reference), on a random tiny checkpoint (the GPU machine has no reference
// venv). Skips where no CUDA device exists.
//
// Tolerances: bf16 and fp16 logits within 2e-2 of the fp32 logits' scale (max |e|), the bound the
// bf16 CPU golden test holds against transformers; fp32 logits within 1e-4 + 1e-4·|e|, the fp32
// golden bound (GEMM, attention and norm sums accumulate in another order). Prompts are a text
// prefill with DeepStack, one chunk that follows it (the cache's explicit causal mask) and
// decode steps.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "cache/full_cache.h"
#include "cache/paged_kv_cache.h"
#include "cache/policy.h"
#include "language/qwen3vl/decode_graph.h"
#include "kernels/io/safetensors.h"
#include "kernels/ops/gemv.h"
#include "kernels/ops/rms_norm.h"
#include "kernels/ops/rotary.h"
#include "kernels/ops/swiglu.h"
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

// The tiny checkpoint, and the schedule's logits from it in fp32 on the CPU.
class TinyModelOnCuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) return;
    const auto config = test::tiny_qwen3vl_config();
    test::write_tiny_qwen3vl(dir.path(), config, test::tiny_qwen3vl_tensors(config, 17));
    text = TextConfig::load(dir / "config.json");
  }
  at::Tensor logits(at::ScalarType dtype, c10::Device device) const {
    return run_schedule(TextDecoder::load(io::SafetensorsCheckpoint::open(dir.path()), text, dtype, device));
  }
  void expect_follows_cpu_fp32(at::ScalarType dtype) const {
    const at::Tensor expected = logits(at::kFloat, at::kCPU);
    const at::Tensor actual = logits(dtype, at::Device(at::kCUDA, 0));
    const double scale = expected.abs().max().item<double>();
    EXPECT_TRUE(test::all_close(actual, expected, 0.0, 2e-2 * scale, dtype_name(dtype) + " CUDA logits"));
  }

  test::TempDir dir;
  TextConfig text;
};

// Every fused kernel takes the tiny model's tensors (head_dim 16: one 16-byte vector per half in
// bf16/fp16, two lanes in fp32), so the tests below run the kernels, not the ATen fallback. The
// tensors are laid out as the modules pass them: q/k as views of one qkv projection, gate/up as
// the halves of one gate_up projection.
TEST_F(TinyModelOnCuda, TakesTheFusedKernels) {
  TRIMVL_REQUIRE_CUDA();
  const int64_t tokens = 5, hidden = text.hidden_size, d = text.head_dim, heads = text.num_attention_heads,
                kv = text.num_key_value_heads, inter = text.intermediate_size;
  for (const auto dtype : {at::kBFloat16, at::kHalf, at::kFloat}) {
    const auto cuda = at::TensorOptions().dtype(dtype).device(at::kCUDA);
    const at::Tensor x = at::ones({tokens, hidden}, cuda), w = at::ones({hidden}, cuda);
    EXPECT_TRUE(ops::rms_norm_supported(x, w)) << dtype_name(dtype);
    EXPECT_TRUE(ops::add_rms_norm_supported(x, x, w)) << dtype_name(dtype);
    const at::Tensor qkv = at::ones({tokens, (heads + 2 * kv) * d}, cuda), dw = at::ones({d}, cuda);
    const at::Tensor table = at::ones({tokens, 1, d}, cuda);
    EXPECT_TRUE(ops::qk_norm_rope_supported(qkv.narrow(1, 0, heads * d).view({tokens, heads, d}),
                                            qkv.narrow(1, heads * d, kv * d).view({tokens, kv, d}), dw, dw, table,
                                            table))
        << dtype_name(dtype);
    const at::Tensor gate_up = at::ones({tokens, 2 * inter}, cuda);
    EXPECT_TRUE(ops::silu_mul_supported(gate_up.narrow(1, 0, inter), gate_up.narrow(1, inter, inter)))
        << dtype_name(dtype);
    // A decode step's one token: every projection but lm_head through gemv, gate/up with SwiGLU.
    const at::Tensor token = at::ones({1, hidden}, cuda);
    EXPECT_TRUE(ops::gemv_supported(token, at::ones({(heads + 2 * kv) * d, hidden}, cuda))) << dtype_name(dtype);
    EXPECT_TRUE(ops::gemv_supported(at::ones({1, heads * d}, cuda), at::ones({hidden, heads * d}, cuda)))
        << dtype_name(dtype);
    EXPECT_TRUE(ops::gemv_silu_mul_supported(token, at::ones({2 * inter, hidden}, cuda))) << dtype_name(dtype);
    EXPECT_TRUE(ops::gemv_supported(at::ones({1, inter}, cuda), at::ones({hidden, inter}, cuda))) << dtype_name(dtype);
  }
}

TEST_F(TinyModelOnCuda, Bf16OnCudaFollowsFp32OnCpu) {
  TRIMVL_REQUIRE_CUDA();
  expect_follows_cpu_fp32(at::kBFloat16);
}

TEST_F(TinyModelOnCuda, Fp16OnCudaFollowsFp32OnCpu) {
  TRIMVL_REQUIRE_CUDA();
  expect_follows_cpu_fp32(at::kHalf);
}

// fp32 on CUDA computes what the CPU computes up to accumulation order, so the logits agree to the
// golden fp32 bound and greedy decoding picks the same token wherever the CPU's best two logits
// are further apart than ten times that bound (closer ones may swap without anything wrong).
TEST_F(TinyModelOnCuda, Fp32OnCudaMatchesCpu) {
  TRIMVL_REQUIRE_CUDA();
  const at::Tensor expected = logits(at::kFloat, at::kCPU);
  const at::Tensor actual = logits(at::kFloat, at::Device(at::kCUDA, 0));
  EXPECT_TRUE(test::all_close(actual, expected, 1e-4, 1e-4, "fp32 CUDA logits"));
  const auto [top, index] = expected.topk(2, -1);
  const at::Tensor clear = (top.select(-1, 0) - top.select(-1, 1)) > 1e-3;
  ASSERT_TRUE(clear.any().item<bool>()) << "no position with a clear greedy token: the check would be empty";
  EXPECT_TRUE(at::equal(actual.argmax(-1).masked_select(clear), index.select(-1, 0).masked_select(clear)));
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

// Greedy decode through DecodeGraph on a tiny model whose attention the paged kernels take (head
// dim 64, query groups of 2): CUDA graph replays give what eager steps on the same kernels give,
// and both follow the CPU reference (the ATen paged cache) in fp32 — also under a streaming policy
// that evicts during the decode, so replays see re-uploaded block tables.
struct GreedyRun {
  std::vector<int64_t> tokens;
  at::Tensor logits;  // [steps, vocab] float32, CPU
  DecodeGraph::Counters counters;
};

std::unique_ptr<cache::PagedKvCache> new_cache(const TextDecoder& d, const cache::PolicyOptions& policy) {
  const TextConfig& c = d.model.config();
  return std::make_unique<cache::PagedKvCache>(cache::PagedCacheOptions{.num_layers = static_cast<int>(c.num_hidden_layers),
                                                                        .num_kv_heads = static_cast<int>(c.num_key_value_heads),
                                                                        .head_dim = c.head_dim,
                                                                        .dtype = d.model.dtype(),
                                                                        .device = d.model.device(),
                                                                        .max_forward_tokens = 24},
                                               cache::make_policy(policy));
}

// A 24-token prompt into `cache`, then `steps` greedy tokens through `graph`.
GreedyRun greedy_on(const TextDecoder& d, cache::PagedKvCache& cache, DecodeGraph& graph, int64_t steps) {
  const at::Tensor ids = at::arange(24, at::kLong) * 7 % 90;
  d.model.forward(d.model.embed(ids.to(d.model.device())), at::arange(24, at::kLong).expand({3, 24}).contiguous(),
                  ForwardTokens::uniform(24, Modality::Text), cache);
  const DecodeGraph::Counters before = graph.counters();
  GreedyRun run;
  std::vector<at::Tensor> logits;
  int64_t token = 5;
  for (int64_t i = 0; i < steps; ++i) {
    const at::Tensor out = graph.step(at::full({1}, token, at::kLong), 24 + i, {.modality = Modality::Generated}, cache);
    logits.push_back(out.to(at::kCPU, at::kFloat));
    token = logits.back().argmax(-1).item<int64_t>();
    run.tokens.push_back(token);
  }
  run.logits = at::cat(logits);
  const DecodeGraph::Counters& after = graph.counters();
  run.counters = {.eager = after.eager - before.eager,
                  .captures = after.captures - before.captures,
                  .replays = after.replays - before.replays};
  return run;
}

GreedyRun greedy(const TextDecoder& d, const cache::PolicyOptions& policy, bool capture, int64_t steps) {
  auto cache = new_cache(d, policy);
  DecodeGraph graph(d, capture);
  return greedy_on(d, *cache, graph, steps);
}

// The tiny model with head dim 64, so the paged kernels take its attention, written to `dir`;
// and a streaming policy that evicts every few decode steps.
void write_head64_model(const test::TempDir& dir) {
  auto config = test::tiny_qwen3vl_config();
  config["text_config"]["head_dim"] = 64;
  config["text_config"]["rope_scaling"]["mrope_section"] = {12, 10, 10};
  test::write_tiny_qwen3vl(dir.path(), config, test::tiny_qwen3vl_tensors(config, 29));
}

cache::PolicyOptions evicting_streaming() {
  cache::PolicyOptions streaming;
  streaming.kind = cache::PolicyKind::StreamingLLM;
  streaming.budget = 16;
  streaming.buffer = 4;
  streaming.sinks = 2;
  return streaming;
}

// The pipeline keeps a cache and its graphs across requests (Engine::reset, and KV setups parked by
// set_kv_cache): after a reset the same graphs replay on the same storage, and must give what the
// first request gave, without capturing anew.
TEST(Qwen3VLTextGpu, GraphsReplayOnTheirCacheAfterAReset) {
  TRIMVL_REQUIRE_CUDA();
  test::TempDir dir;
  write_head64_model(dir);
  const TextDecoder d = TextDecoder::load(io::SafetensorsCheckpoint::open(dir.path()), TextConfig::load(dir / "config.json"),
                                          at::kBFloat16, at::Device(at::kCUDA, 0));
  const cache::PolicyOptions streaming = evicting_streaming();
  auto cache = new_cache(d, streaming);
  DecodeGraph graph(d, true);
  const GreedyRun first = greedy_on(d, *cache, graph, 30);
  cache->reset();
  const GreedyRun second = greedy_on(d, *cache, graph, 30);
  EXPECT_EQ(second.tokens, first.tokens);
  EXPECT_TRUE(test::all_close(second.logits, first.logits, 0.0, 0.0, "after a reset"));
  EXPECT_EQ(second.counters.captures, 0);
  EXPECT_GE(second.counters.replays, 28);
}

TEST(Qwen3VLTextGpu, DecodeGraphReplaysMatchEagerStepsAndTheCpu) {
  TRIMVL_REQUIRE_CUDA();
  test::TempDir dir;
  write_head64_model(dir);
  const auto ckpt = io::SafetensorsCheckpoint::open(dir.path());
  const TextConfig text = TextConfig::load(dir / "config.json");
  const cache::PolicyOptions streaming = evicting_streaming();
  constexpr int64_t kSteps = 40;
  for (const cache::PolicyOptions& policy : {cache::PolicyOptions{}, streaming}) {
    SCOPED_TRACE(cache::make_policy(policy)->describe());
    const GreedyRun cpu = greedy(TextDecoder::load(ckpt, text, at::kFloat, at::kCPU), policy, false, kSteps);
    for (const auto dtype : {at::kFloat, at::kBFloat16}) {
      const TextDecoder gpu = TextDecoder::load(ckpt, text, dtype, at::Device(at::kCUDA, 0));
      const GreedyRun replayed = greedy(gpu, policy, true, kSteps);
      const GreedyRun eager = greedy(gpu, policy, false, kSteps);
      // Each new key costs an eager warm-up and a capture: the first step (no key yet) and, under
      // the full policy, each doubling of its pool.
      EXPECT_GE(replayed.counters.replays, kSteps - 8);
      EXPECT_EQ(replayed.counters.eager + replayed.counters.captures + replayed.counters.replays, kSteps);
      EXPECT_EQ(eager.counters.replays + eager.counters.captures, 0);
      EXPECT_EQ(replayed.tokens, eager.tokens);
      EXPECT_TRUE(test::all_close(replayed.logits, eager.logits, 1e-5, 1e-5, "replayed vs eager logits"));
      if (dtype == at::kFloat) {
        EXPECT_EQ(replayed.tokens, cpu.tokens);
        const double scale = cpu.logits.abs().max().item<double>();
        EXPECT_TRUE(test::all_close(replayed.logits, cpu.logits, 0.0, 1e-4 * scale, "CUDA graph vs CPU logits"));
      }
    }
  }
}

}  // namespace
}  // namespace trimvl::qwen3vl
