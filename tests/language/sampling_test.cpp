// Sampling: each processor against hand-computed results, the order generate() applies them in,
// greedy tie-breaking, seeded reproducibility, parameter checks and generation_config.json
// reading. (Parity with recorded transformers generate() runs: qwen3vl_prompt_golden_test.cpp.)
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "language/sampling/generation_config.h"
#include "language/sampling/logits_processors.h"
#include "language/sampling/sampler.h"
#include "tests/support/test_env.h"

namespace trimvl {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

at::Tensor vec(std::vector<float> v) { return at::tensor(v, at::kFloat); }
at::Tensor log_probs(std::vector<float> p) { return vec(std::move(p)).log(); }

// Which entries survived (are finite).
std::vector<bool> kept(const at::Tensor& scores) {
  std::vector<bool> out;
  const at::Tensor finite = scores.isfinite().contiguous();
  for (int64_t i = 0; i < finite.numel(); ++i) out.push_back(finite[i].item<bool>());
  return out;
}

TEST(LogitsProcessors, RepetitionPenaltyDividesPositiveAndMultipliesNegativeSeenScores) {
  const at::Tensor seen = vec({1, 1, 0, 0, 1}) != 0;
  const at::Tensor out = logits::repetition_penalty(vec({2, -2, 1, -1, 0}), seen, 2.0);
  EXPECT_TRUE(at::equal(out, vec({1, -4, 1, -1, 0}))) << out;
  // A penalty below 1 does the opposite: seen tokens become more likely.
  EXPECT_TRUE(at::equal(logits::repetition_penalty(vec({2, -2, 1}), seen.slice(0, 0, 3), 0.5), vec({4, -1, 1})));
}

TEST(LogitsProcessors, TemperatureDivides) {
  EXPECT_TRUE(at::equal(logits::temperature(vec({1, -2}), 0.5), vec({2, -4})));
}

TEST(LogitsProcessors, TopKKeepsEverythingTiedWithTheKth) {
  EXPECT_EQ(kept(logits::top_k(vec({1, 3, 3, 2, 0}), 1)), (std::vector<bool>{false, true, true, false, false}));
  EXPECT_EQ(kept(logits::top_k(vec({1, 3, 3, 2, 0}), 3)), (std::vector<bool>{false, true, true, true, false}));
  EXPECT_EQ(kept(logits::top_k(vec({1, 3, 3, 2, 0}), 50)), (std::vector<bool>(5, true)));
  const at::Tensor out = logits::top_k(vec({1, 3, 3, 2, 0}), 3);
  EXPECT_EQ(out[0].item<float>(), -kInf);
  EXPECT_EQ(out[3].item<float>(), 2.0f);  // survivors keep their scores
}

TEST(LogitsProcessors, TopPKeepsTheSmallestMostLikelySetReachingP) {
  const at::Tensor s = log_probs({0.5f, 0.3f, 0.15f, 0.05f});
  EXPECT_EQ(kept(logits::top_p(s, 0.75)), (std::vector<bool>{true, true, false, false}));   // 0.8 >= 0.75
  EXPECT_EQ(kept(logits::top_p(s, 0.85)), (std::vector<bool>{true, true, true, false}));    // 0.95 >= 0.85
  EXPECT_EQ(kept(logits::top_p(s, 1.0)), (std::vector<bool>(4, true)));
  // The most likely token always survives, even when it alone exceeds p.
  EXPECT_EQ(kept(logits::top_p(s, 0.01)), (std::vector<bool>{true, false, false, false}));
  EXPECT_EQ(kept(logits::top_p(log_probs({0.01f, 0.97f, 0.01f, 0.01f}), 0.5)), (std::vector<bool>{false, true, false, false}));
}

TEST(LogitsProcessors, TopPBreaksTiesAtTheBoundaryByTheSortsOrder) {
  // Ascending sort puts the three 0.2s in id order, so the lower ids are counted (and removed)
  // first: cumulative 0.2, 0.4 <= 0.5 go, 0.6 stays.
  EXPECT_EQ(kept(logits::top_p(log_probs({0.4f, 0.2f, 0.2f, 0.2f}), 0.5)), (std::vector<bool>{true, false, false, true}));
}

TEST(LogitsProcessors, MinPScalesWithTheTopProbability) {
  const at::Tensor s = log_probs({0.5f, 0.3f, 0.15f, 0.05f});
  EXPECT_EQ(kept(logits::min_p(s, 0.2)), (std::vector<bool>{true, true, true, false}));   // below 0.1 goes
  EXPECT_EQ(kept(logits::min_p(s, 0.7)), (std::vector<bool>{true, false, false, false}));  // below 0.35 goes
  EXPECT_EQ(kept(logits::min_p(s, 0.0)), (std::vector<bool>(4, true)));
  EXPECT_EQ(kept(logits::min_p(log_probs({0.4f, 0.4f, 0.2f}), 1.0)), (std::vector<bool>{true, true, false}));
}

TEST(Sampler, WarpersRunAfterThePenaltyInGenerateOrder) {
  // Temperature before top-p: at T = 0.25 the 0.6 token holds 94% of the mass, so top-p 0.65
  // keeps it alone; applied to the untempered scores top-p would keep two tokens.
  SamplingParams p;
  p.do_sample = true;
  p.temperature = 0.25;
  p.top_k = 0;
  p.top_p = 0.65;
  p.seed = 1;
  Sampler sampler(p);
  EXPECT_EQ(kept(sampler.process(log_probs({0.6f, 0.3f, 0.1f}))), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(kept(logits::top_p(log_probs({0.6f, 0.3f, 0.1f}), 0.65)), (std::vector<bool>{true, true, false}));

  // Temperature before min-p too: at T = 2 the 0.2 token is 0.63 of the top probability, above
  // min-p 0.5; on the untempered scores it is 0.4 of it and would go.
  SamplingParams q;
  q.do_sample = true;
  q.temperature = 2;
  q.top_k = 0;
  q.min_p = 0.5;
  Sampler tempered(q);
  EXPECT_EQ(kept(tempered.process(log_probs({0.5f, 0.3f, 0.2f}))), (std::vector<bool>{true, true, true}));
  EXPECT_EQ(kept(logits::min_p(log_probs({0.5f, 0.3f, 0.2f}), 0.5)), (std::vector<bool>{true, true, false}));
}

TEST(Sampler, GreedyIsTheFirstMaximumAfterThePenaltyAndIgnoresWarpers) {
  SamplingParams p;  // do_sample false, as GenerationConfig's default
  p.temperature = 0.1;
  p.top_k = 1;
  Sampler greedy(p);
  EXPECT_EQ(greedy.sample(vec({1, 3, 3, 0})), 1);
  EXPECT_TRUE(at::equal(greedy.process(vec({1, 3, 3, 0})), vec({1, 3, 3, 0})));  // warpers skipped

  p.repetition_penalty = 2.0;
  Sampler penalized(p);
  penalized.observe(std::vector<int32_t>{1});
  EXPECT_EQ(penalized.sample(vec({1, 3, 2.5f, 0})), 2);  // 3 / 2 < 2.5
  EXPECT_EQ(penalized.sample(vec({1, 3, 2.5f, 0})), 1);  // 2 is now penalized too: 3 / 2 > 2.5 / 2
}

TEST(Sampler, TemperatureZeroIsGreedy) {
  SamplingParams p;
  p.do_sample = true;
  p.temperature = 0;
  EXPECT_FALSE(p.sampling());
  Sampler sampler(p);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sampler.sample(vec({0.1f, 0.2f, 0.15f})), 1);
}

TEST(Sampler, SameSeedSameTokensAndDrawsStayInsideTheKeptSet) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  p.seed = 1234;
  const at::Tensor uniform = at::zeros({1000});
  Sampler a(p), b(p);
  std::vector<int32_t> first, second;
  for (int i = 0; i < 20; ++i) {
    first.push_back(a.sample(uniform));
    second.push_back(b.sample(uniform));
  }
  EXPECT_EQ(first, second);
  p.seed = 1235;
  Sampler c(p);
  std::vector<int32_t> third;
  for (int i = 0; i < 20; ++i) third.push_back(c.sample(uniform));
  EXPECT_NE(first, third);

  p.top_k = 3;
  Sampler top3(p);
  std::set<int32_t> drawn;
  for (int i = 0; i < 200; ++i) drawn.insert(top3.sample(vec({0.0f, 5.0f, 5.1f, 1.0f, 4.9f, 0.5f})));
  EXPECT_EQ(drawn, (std::set<int32_t>{1, 2, 4}));
}

TEST(Sampler, UnseededSamplerReportsTheSeedItDrew) {
  SamplingParams p;
  p.do_sample = true;
  p.top_k = 0;
  Sampler drawn(p);
  p.seed = drawn.seed();
  Sampler replay(p);
  const at::Tensor uniform = at::zeros({500});
  for (int i = 0; i < 10; ++i) EXPECT_EQ(drawn.sample(uniform), replay.sample(uniform));
}

TEST(Sampler, RejectsBadParametersAndInputs) {
  auto rejects = [](auto change, const std::string& fragment) {
    SamplingParams p;
    change(p);
    try {
      Sampler s(p);
      ADD_FAILURE() << "accepted; expected an error mentioning " << fragment;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  rejects([](SamplingParams& p) { p.temperature = -0.5; }, "temperature must be >= 0");
  rejects([](SamplingParams& p) { p.temperature = std::nan(""); }, "temperature");
  rejects([](SamplingParams& p) { p.top_p = 0; }, "top_p must be in (0, 1]");
  rejects([](SamplingParams& p) { p.top_p = 1.5; }, "top_p must be in (0, 1]");
  rejects([](SamplingParams& p) { p.top_k = -1; }, "top_k must be >= 0");
  rejects([](SamplingParams& p) { p.min_p = -0.1; }, "min_p must be in [0, 1]");
  rejects([](SamplingParams& p) { p.min_p = 1.1; }, "min_p must be in [0, 1]");
  rejects([](SamplingParams& p) { p.repetition_penalty = 0; }, "repetition_penalty must be > 0");

  SamplingParams p;
  p.repetition_penalty = 1.1;
  Sampler s(p);
  EXPECT_THROW(s.sample(at::zeros({2, 4})), Error);
  EXPECT_THROW(s.sample(at::zeros({4}, at::kLong)), Error);
  EXPECT_THROW(s.sample(at::Tensor()), Error);
  s.observe(std::vector<int32_t>{4});
  EXPECT_THROW(s.sample(at::zeros({4})), Error);  // id 4 is outside a vocabulary of 4
}

void write_config(const test::TempDir& dir, const std::string& json) { test::write_file(dir / "generation_config.json", json); }

TEST(GenerationConfig, ReadsTheHubFileAndGenerationConfigDefaults) {
  test::TempDir dir;
  write_config(dir, R"({"bos_token_id": 151643, "pad_token_id": 151643, "do_sample": true,
                        "eos_token_id": [151645, 151643], "top_k": 20, "top_p": 0.8,
                        "repetition_penalty": 1.0, "temperature": 0.7, "transformers_version": "4.56.0"})");
  GenerationConfig g = GenerationConfig::from_file(dir / "generation_config.json");
  EXPECT_TRUE(g.sampling.do_sample);
  EXPECT_EQ(g.sampling.top_k, 20);
  EXPECT_DOUBLE_EQ(g.sampling.top_p, 0.8);
  EXPECT_DOUBLE_EQ(g.sampling.temperature, 0.7);
  EXPECT_FALSE(g.sampling.min_p.has_value());
  EXPECT_EQ(g.stop.eos_token_ids, (std::vector<int32_t>{151645, 151643}));
  EXPECT_FALSE(g.stop.max_new_tokens.has_value());

  write_config(dir, R"({"do_sample": true, "eos_token_id": 2, "stop_strings": "END", "max_new_tokens": 64,
                        "min_p": 0.1, "top_p": null})");
  g = GenerationConfig::from_file(dir / "generation_config.json");
  EXPECT_EQ(g.sampling.top_k, 50);  // GenerationConfig's default, which generate() applies
  EXPECT_DOUBLE_EQ(g.sampling.top_p, 1.0);
  EXPECT_DOUBLE_EQ(g.sampling.temperature, 1.0);
  EXPECT_DOUBLE_EQ(*g.sampling.min_p, 0.1);
  EXPECT_EQ(g.stop.eos_token_ids, (std::vector<int32_t>{2}));
  EXPECT_EQ(g.stop.stop_strings, (std::vector<std::string>{"END"}));
  EXPECT_EQ(g.stop.max_new_tokens, 64);
}

TEST(GenerationConfig, BadValuesNameTheFileAndKey) {
  test::TempDir dir;
  auto rejects = [&](const std::string& json, const std::string& fragment) {
    write_config(dir, json);
    try {
      GenerationConfig::from_file(dir / "generation_config.json");
      ADD_FAILURE() << "accepted " << json;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("generation_config.json"), std::string::npos) << e.what();
    }
  };
  rejects(R"({"top_p": 0})", "top_p must be in (0, 1]");
  rejects(R"({"temperature": "hot"})", "temperature");
  rejects(R"({"eos_token_id": ["x"]})", "eos_token_id");
  rejects(R"({"eos_token_id": -1})", "eos_token_id");
  rejects(R"({"stop_strings": [""]})", "stop strings must not be empty");
  rejects(R"({"max_new_tokens": 0})", "max_new_tokens must be >= 1");
  rejects(R"({"do_sample": true,)", "invalid JSON");
  EXPECT_THROW(GenerationConfig::from_file(dir / "missing.json"), Error);
}

}  // namespace
}  // namespace trimvl
