// What `trimvl eval`'s sweeps rely on, on the end-to-end golden snapshot gqa4 (tests/golden/
// gen_qwen3vl_e2e.py) with the rg10 gates gen_trimkv_e2e.py wrote for its shape: one engine switched
// between KV policies (Engine::set_kv_cache) answers exactly as engines constructed with each policy
// do, and images and videos are encoded once however often they are asked about (the media cache),
// with results equal bit for bit to a fresh encoding.
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "app/engine.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;

fs::path e2e() { return test::golden_dir("qwen3vl_e2e"); }
fs::path media(const std::string& name) { return e2e() / "media" / (name + ".safetensors"); }
// Random gates gen_trimkv_e2e.py wrote for gqa4's shape, of both kinds.
fs::path gates(const std::string& kind = "rg10") { return test::golden_dir("trimkv_e2e") / ("gates-" + kind); }

EngineOptions options(KvCacheSettings kv) {
  EngineOptions o;
  o.model = (e2e() / "gqa4" / "model").string();
  o.dtype = "fp32";
  o.kv = std::move(kv);
  return o;
}

KvCacheSettings full() { return {}; }

KvCacheSettings gated(const std::string& policy, int64_t budget, int64_t buffer, std::optional<int64_t> chunk = {},
                      const std::string& gate_kind = "rg10") {
  KvCacheSettings kv;
  kv.policy = policy;
  kv.budget = budget;
  kv.buffer = buffer;
  kv.prefill_chunk = chunk;
  kv.gates = gates(gate_kind).string();
  return kv;
}

Request question(std::vector<Part> media_parts, int64_t new_tokens = 12) {
  Request request;
  media_parts.push_back(Part::of_text("Describe this in detail, please."));
  request.messages.push_back({Role::User, std::move(media_parts)});
  request.generation.temperature = 0;
  request.generation.max_new_tokens = new_tokens;
  return request;
}

Request image_question(const fs::path& image, int64_t new_tokens = 12) {
  return question({Part::image(image)}, new_tokens);
}

// The answer and everything about it that does not depend on timing or on the media cache.
struct Answer {
  Reply reply;
  at::Tensor logits;  // every generated token's logits, float32
};

Answer ask(Engine& engine, const Request& request) {
  Answer run{engine.ask(request), {}};
  const test::TempDir tmp;
  engine.dump_logits(tmp / "logits.safetensors");
  run.logits = io::SafetensorsFile::open(tmp / "logits.safetensors").tensor("logits").clone();
  return run;
}

void expect_same_run(const Answer& actual, const Answer& expected) {
  const Stats &a = actual.reply.stats, &e = expected.reply.stats;
  EXPECT_EQ(actual.reply.tokens, expected.reply.tokens);
  EXPECT_EQ(actual.reply.text, expected.reply.text);
  EXPECT_TRUE(at::equal(actual.logits, expected.logits)) << "logits differ";
  EXPECT_EQ(a.prompt_tokens, e.prompt_tokens);
  EXPECT_EQ(a.prefilled_tokens, e.prefilled_tokens);
  EXPECT_EQ(a.text_tokens, e.text_tokens);
  EXPECT_EQ(a.image_tokens, e.image_tokens);
  EXPECT_EQ(a.video_tokens, e.video_tokens);
  EXPECT_EQ(a.generated_tokens, e.generated_tokens);
  EXPECT_EQ(a.kv_bytes, e.kv_bytes);
  EXPECT_EQ(a.stop_reason, e.stop_reason);
  EXPECT_EQ(a.kv_policy, e.kv_policy);
  EXPECT_EQ(a.cached_tokens, e.cached_tokens);
  EXPECT_EQ(a.peak_cached_tokens, e.peak_cached_tokens);
  EXPECT_EQ(a.peak_kv_bytes, e.peak_kv_bytes);
  EXPECT_EQ(a.evictions, e.evictions);
  EXPECT_EQ(a.kept_text, e.kept_text);
  EXPECT_EQ(a.kept_image, e.kept_image);
  EXPECT_EQ(a.kept_video, e.kept_video);
  EXPECT_EQ(a.kept_generated, e.kept_generated);
  EXPECT_EQ(a.mean_cache_ratio, e.mean_cache_ratio);
}

// (a) full → dbtrimkv → trimkv (other gates, no chunking) → dbtrimkv → full on one engine: each
// request equals a fresh engine's with that policy — tokens, logits and every KV statistic. The
// bounded policies evict, so a switch that did not take effect (or kept the old gates, chunking or
// cache) would show.
TEST(EngineSweep, SwitchedPoliciesAnswerAsFreshEngines) {
  const Request request = image_question(media("image_a"));
  const std::vector<KvCacheSettings> sweep = {full(), gated("dbtrimkv", 4, 2, 8), gated("trimkv", 3, 2, {}, "rg"),
                                              gated("dbtrimkv", 4, 2, 8), full()};
  Engine engine(options(sweep[0]));
  for (size_t i = 0; i < sweep.size(); ++i) {
    SCOPED_TRACE("configuration " + std::to_string(i) + ": " + sweep[i].policy);
    if (i > 0) engine.set_kv_cache(sweep[i]);
    const Answer switched = ask(engine, request);
    Engine fresh_engine(options(sweep[i]));
    const Answer fresh = ask(fresh_engine, request);
    expect_same_run(switched, fresh);
    EXPECT_EQ(switched.reply.stats.media_encoded + switched.reply.stats.media_reused, 1);
    if (sweep[i].policy == "full") {
      EXPECT_EQ(switched.reply.stats.evictions, 0);
    } else {
      EXPECT_GT(switched.reply.stats.evictions, 0);
    }
  }
}

// (b) The same image asked about again — after reset(), after a policy switch, and by score() —
// is encoded once; every later request takes the stored encoding and answers exactly as before
// (or as a fresh engine with the new policy).
TEST(EngineSweep, AnImageAskedAgainIsEncodedOnce) {
  const Request request = image_question(media("image_a"));
  Engine engine(options(full()));
  const Answer first = ask(engine, request);
  EXPECT_EQ(first.reply.stats.media_encoded, 1);
  EXPECT_EQ(first.reply.stats.media_reused, 0);
  engine.reset();
  const Answer again = ask(engine, request);
  EXPECT_EQ(again.reply.stats.media_encoded, 0);
  EXPECT_EQ(again.reply.stats.media_reused, 1);
  expect_same_run(again, first);

  const KvCacheSettings bounded = gated("dbtrimkv", 4, 2, 8);
  engine.set_kv_cache(bounded);
  const Answer switched = ask(engine, request);
  EXPECT_EQ(switched.reply.stats.media_encoded, 0);
  EXPECT_EQ(switched.reply.stats.media_reused, 1);
  Engine fresh_engine(options(bounded));
  const Answer fresh = ask(fresh_engine, request);
  EXPECT_EQ(fresh.reply.stats.media_encoded, 1);
  expect_same_run(switched, fresh);
  // After reset() the KV statistics start over: the same request, the same evictions and peaks.
  engine.reset();
  expect_same_run(ask(engine, request), fresh);

  // score() goes through the same encodings; its stats describe its own (bounded) cache.
  const Score scored = engine.score(request, "A small picture.");
  const Score fresh_scored = fresh_engine.score(request, "A small picture.");
  EXPECT_EQ(scored.stats.media_reused, 1);
  EXPECT_EQ(fresh_scored.stats.media_reused, 1);  // fresh_engine asked about it above
  EXPECT_EQ(scored.total, fresh_scored.total);
  EXPECT_EQ(scored.stats.kv_policy, "dbtrimkv fixed_budget M=4 B=2");
  EXPECT_GT(scored.stats.evictions, 0);
  EXPECT_EQ(scored.stats.evictions, fresh_scored.stats.evictions);
}

// An entry is one encoder call: a request's images in order (videos likewise, with their sampling
// options). A request with other images, fewer of them or another video fps encodes anew, and
// answers as an engine without a media cache does.
TEST(EngineSweep, ReuseNeedsTheSameMediaWithTheSameOptions) {
  EngineOptions uncached_options = options(full());
  uncached_options.media_cache_bytes = 0;
  Engine uncached(uncached_options);
  Engine engine(options(full()));
  const auto check = [&](const Request& request, int64_t encoded, int64_t reused) {
    engine.reset();
    const Answer run = ask(engine, request);
    EXPECT_EQ(run.reply.stats.media_encoded, encoded);
    EXPECT_EQ(run.reply.stats.media_reused, reused);
    uncached.reset();
    const Answer reference = ask(uncached, request);
    EXPECT_EQ(reference.reply.stats.media_encoded, encoded + reused);
    EXPECT_EQ(reference.reply.stats.media_reused, 0);
    expect_same_run(run, reference);
  };
  const Part a = Part::image(media("image_a")), b = Part::image(media("image_b"));
  {
    SCOPED_TRACE("two images, then the same two, then one of them, then in the other order");
    check(question({a, b}), 2, 0);
    check(question({a, b}), 0, 2);
    check(question({a}), 1, 0);
    check(question({b, a}), 2, 0);
  }
  {
    SCOPED_TRACE("a video at the processor's fps, at another fps, at it again");
    check(question({Part::video(media("video_a"))}), 1, 0);
    check(question({Part::video(media("video_a"), 1.0)}), 1, 0);
    check(question({Part::video(media("video_a"), 1.0)}), 0, 1);
    check(question({Part::video(media("video_a"), 1.0, 2)}), 1, 0);
  }
  {
    SCOPED_TRACE("an image and a video: each half from the cache");
    check(question({a, Part::video(media("video_a"), 1.0)}), 0, 2);
  }
}

// (c) A file rewritten in place with other pixels — same size, same inode, a new modification time
// — is encoded again, and the answer is the one about the new pixels.
TEST(EngineSweep, AModifiedFileIsEncodedAgain) {
  const test::TempDir tmp;
  const fs::path picture = tmp / "picture.safetensors", inverted = tmp / "inverted.safetensors";
  std::string bytes = test::read_file(media("image_a"));
  test::write_file(picture, bytes);
  // safetensors: an 8-byte little-endian header length, the header, then the data (here the frames'
  // uint8 pixels, which inverting keeps valid).
  uint64_t header = 0;
  std::memcpy(&header, bytes.data(), sizeof header);
  for (size_t i = 8 + header; i < bytes.size(); ++i) bytes[i] = static_cast<char>(255 - static_cast<unsigned char>(bytes[i]));
  test::write_file(inverted, bytes);

  Engine engine(options(full()));
  const Answer before = ask(engine, image_question(picture));
  EXPECT_EQ(before.reply.stats.media_encoded, 1);
  const auto written = fs::last_write_time(picture);
  test::write_file(picture, bytes);
  fs::last_write_time(picture, written + std::chrono::seconds(5));
  ASSERT_EQ(fs::file_size(picture), fs::file_size(inverted));

  engine.reset();
  const Answer after = ask(engine, image_question(picture));
  EXPECT_EQ(after.reply.stats.media_encoded, 1);
  EXPECT_EQ(after.reply.stats.media_reused, 0);
  EXPECT_FALSE(at::equal(after.logits.narrow(0, 0, 1), before.logits.narrow(0, 0, 1)));
  Engine fresh_engine(options(full()));
  expect_same_run(after, ask(fresh_engine, image_question(inverted)));
}

// (d) Settings construction refuses are refused by set_kv_cache with the same error, and leave the
// engine as it was: its policy, and its conversation (the next turn prefills only what is new).
TEST(EngineSweep, RefusedSettingsLeaveTheEngineAsItWas) {
  const KvCacheSettings kept = gated("dbtrimkv", 2, 1, 4);
  // A one-token first answer leaves the cache holding exactly the first prompt, a prefix of the
  // second (kv_pipeline_golden_test.cpp says why).
  const Request first = image_question(media("image_a"), 1);
  Request next;
  next.messages.push_back({Role::User, {Part::of_text("And the colours?")}});
  next.generation.temperature = 0;
  next.generation.max_new_tokens = 6;

  Engine engine(options(kept));
  ask(engine, first);

  KvCacheSettings unknown;
  unknown.policy = "lru";
  KvCacheSettings zero_budget = gated("trimkv", 0, 2);
  KvCacheSettings no_gates = gated("trimkv", 4, 2);
  no_gates.gates.clear();
  KvCacheSettings not_gates = gated("dbtrimkv", 4, 2);
  not_gates.gates = (e2e() / "gqa4" / "model").string();
  KvCacheSettings bad_chunk = gated("dbtrimkv", 4, 2, 0);
  for (const KvCacheSettings& bad : {unknown, zero_budget, no_gates, not_gates, bad_chunk}) {
    SCOPED_TRACE(bad.policy);
    std::optional<Error> at_construction;
    try {
      Engine refused(options(bad));
    } catch (const Error& e) {
      at_construction = e;
    }
    ASSERT_TRUE(at_construction.has_value()) << "construction accepted it";
    try {
      engine.set_kv_cache(bad);
      ADD_FAILURE() << "set_kv_cache accepted it";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), at_construction->kind());
      EXPECT_STREQ(e.what(), at_construction->what());
    }
  }
  try {
    engine.set_kv_cache(unknown);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("unknown KV policy 'lru'"), std::string::npos) << e.what();
  }

  const Answer second = ask(engine, next);
  EXPECT_LT(second.reply.stats.prefilled_tokens, second.reply.stats.prompt_tokens);
  Engine fresh_engine(options(kept));
  ask(fresh_engine, first);
  expect_same_run(second, ask(fresh_engine, next));
}

// Gate checkpoints are read once per directory: after the file is damaged, switching away and back
// still works from what was read (a fresh engine would now refuse the file).
TEST(EngineSweep, GatesAreReadOncePerDirectory) {
  const test::TempDir tmp;
  const fs::path dir = tmp / "gates";
  fs::copy(gates(), dir);
  KvCacheSettings bounded = gated("dbtrimkv", 4, 2, 8);
  bounded.gates = dir.string();
  const Request request = image_question(media("image_a"));

  Engine engine(options(bounded));
  const Answer first = ask(engine, request);
  test::write_file(dir / "trimkv_weights.pth", "not a checkpoint");
  EXPECT_THROW(Engine{options(bounded)}, Error);
  engine.set_kv_cache(full());
  engine.set_kv_cache(bounded);
  expect_same_run(ask(engine, request), first);
}

}  // namespace
}  // namespace trimvl::app
