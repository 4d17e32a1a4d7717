// The engine with bounded KV caches, on the end-to-end golden snapshot gqa4 (tests/golden/
// gen_qwen3vl_e2e.py) and the random rg10 gates written for the same shape by gen_trimkv_e2e.py:
// the two prefill modes, the budget bound in streaming mode, multi-turn over a compressed cache,
// traces, and the errors a user can provoke. Numerical parity of the policies with trimkv's model is
// tests/language/trimkv_e2e_golden_test.cpp; this is the wiring above it.
#include <string>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "app/engine.h"
#include "app/trace/trace_file.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

fs::path e2e() { return test::golden_dir("qwen3vl_e2e"); }
fs::path gates() { return test::golden_dir("trimkv_e2e") / "gates-rg10"; }

// gqa4: 4 layers, 2 kv heads.
constexpr int64_t kStreams = 4 * 2;

EngineOptions options(KvCacheSettings kv) {
  EngineOptions o;
  o.model = (e2e() / "gqa4" / "model").string();
  o.dtype = "fp32";
  o.kv = std::move(kv);
  return o;
}

KvCacheSettings dbtrimkv(int64_t budget, int64_t buffer, std::optional<int64_t> chunk = {}) {
  KvCacheSettings kv;
  kv.policy = "dbtrimkv";
  kv.budget = budget;
  kv.buffer = buffer;
  kv.prefill_chunk = chunk;
  kv.gates = gates().string();
  return kv;
}

Request image_question(int64_t new_tokens = 12) {
  Request request;
  request.messages.push_back({Role::User, {Part::image(e2e() / "media" / "image_a.safetensors"),
                                           Part::of_text("Describe this picture in detail, please.")}});
  request.generation.temperature = 0;
  request.generation.max_new_tokens = new_tokens;
  return request;
}

at::Tensor logits(const Engine& engine, const test::TempDir& tmp) {
  engine.dump_logits(tmp / "logits.safetensors");
  return io::SafetensorsFile::open(tmp / "logits.safetensors").tensor("logits").clone();
}

// With a budget no stream reaches, prefilling in chunks changes nothing: same tokens, same logits.
TEST(KvPipeline, ChunkedPrefillWithoutEvictionEqualsOneForward) {
  test::TempDir tmp;
  Engine whole(options(dbtrimkv(100'000, 128)));
  const Reply a = whole.ask(image_question());
  const at::Tensor la = logits(whole, tmp);
  Engine chunked(options(dbtrimkv(100'000, 128, 7)));
  const Reply b = chunked.ask(image_question());
  EXPECT_EQ(a.tokens, b.tokens);
  TRIMVL_EXPECT_CLOSE(logits(chunked, tmp), la, 0, 1e-4);
  EXPECT_EQ(a.stats.evictions, 0);
  EXPECT_EQ(b.stats.evictions, 0);
}

// Streaming prefill: the cache never holds more than budget + buffer + one chunk.
TEST(KvPipeline, StreamingPrefillBoundsThePeak) {
  constexpr int64_t m = 4, b = 2, chunk = 4;
  Engine engine(options(dbtrimkv(m, b, chunk)));
  const Reply reply = engine.ask(image_question());
  EXPECT_GT(reply.stats.prompt_tokens, 3 * chunk);
  EXPECT_GT(reply.stats.evictions, 3);
  EXPECT_LE(reply.stats.peak_cached_tokens, kStreams * (m + b) - 1 + kStreams * chunk);
  EXPECT_LE(reply.stats.cached_tokens, kStreams * (m + b));
  EXPECT_EQ(reply.stats.kept_text + reply.stats.kept_image + reply.stats.kept_video + reply.stats.kept_generated,
            reply.stats.cached_tokens);
  EXPECT_EQ(reply.stats.kv_policy, "dbtrimkv fixed_budget M=4 B=2");
  // Reference mode holds the whole prompt before its first eviction.
  Engine reference(options(dbtrimkv(m, b)));
  EXPECT_GE(reference.ask(image_question()).stats.peak_cached_tokens, kStreams * reply.stats.prompt_tokens);
}

// A second turn continues the compressed stream: only its new tokens are prefilled. (A one-token
// first answer leaves the cache holding exactly the first prompt, a prefix of the second: longer
// answers of this untrained model need not re-tokenise to the tokens generated.)
TEST(KvPipeline, SecondTurnContinuesTheCompressedCache) {
  Engine engine(options(dbtrimkv(2, 1, 4)));
  const Reply first = engine.ask(image_question(1));
  EXPECT_GT(first.stats.evictions, 0);
  Request next;
  next.messages.push_back({Role::User, {Part::of_text("And the colours?")}});
  next.generation.temperature = 0;
  next.generation.max_new_tokens = 6;
  const Reply second = engine.ask(next);
  EXPECT_LT(second.stats.prefilled_tokens, second.stats.prompt_tokens);
  EXPECT_GT(second.stats.prompt_tokens, first.stats.prompt_tokens);
  EXPECT_GT(second.stats.evictions, first.stats.evictions);  // counted over the conversation
  EXPECT_LE(second.stats.cached_tokens, kStreams * (2 + 1));
}

TEST(KvPipeline, TraceRecordsTheRequest) {
  test::TempDir tmp;
  Engine engine(options(dbtrimkv(4, 2, 8)));
  Request request = image_question(8);
  request.trace = tmp / "run.trace";
  const Reply reply = engine.ask(request);
  const Trace trace = read_trace(request.trace);
  EXPECT_EQ(trace.header.num_layers, 4);
  EXPECT_EQ(trace.header.num_kv_heads, 2);
  EXPECT_EQ(trace.answer, reply.text);
  EXPECT_NE(trace.prompt.find("Describe this picture"), std::string::npos);
  EXPECT_EQ(static_cast<int64_t>(trace.tokens.size()), reply.stats.prompt_tokens + reply.stats.generated_tokens - 1);
  EXPECT_EQ(static_cast<int64_t>(trace.events.size()), reply.stats.evictions);
  EXPECT_EQ(trace.counters.peak_cached_tokens, reply.stats.peak_cached_tokens);
  int64_t images = 0;
  for (const auto& token : trace.tokens) images += token.modality == cache::Modality::Image;
  EXPECT_EQ(images, reply.stats.image_tokens);
}

TEST(KvPipeline, BadSettingsAreRefusedBeforeLoading) {
  const auto refused = [](KvCacheSettings kv, const std::string& needle) {
    try {
      Engine engine(options(std::move(kv)));
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  refused(dbtrimkv(0, 2), "--kv-budget");
  KvCacheSettings kv = dbtrimkv(4, 2);
  kv.alpha = 1.5;
  refused(kv, "--kv-alpha");
  refused(dbtrimkv(4, 2, 0), "--prefill-chunk");
  kv = dbtrimkv(4, 2);
  kv.gates.clear();
  refused(kv, "needs retention gates");
  kv = dbtrimkv(4, 2);
  kv.budget.reset();
  refused(kv, "needs --kv-budget");
  kv = dbtrimkv(4, 2);
  kv.gates = (e2e() / "gqa4" / "model").string();  // a snapshot, not a gate directory
  refused(kv, "trimkv_weights.pth");
}

// Gates trained for another model: refused with both sides named, before any weight is read.
TEST(KvPipeline, GatesForAnotherModelAreRefused) {
  EngineOptions o = options(dbtrimkv(4, 2));
  o.model = (e2e() / "odd" / "model").string();
  try {
    Engine engine(o);
    FAIL() << "gates for gqa4 ran on odd";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("trimkv_weights.pth"), std::string::npos) << what;
    EXPECT_NE(what.find("config.json"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace trimvl::app
