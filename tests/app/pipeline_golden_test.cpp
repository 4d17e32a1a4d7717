// app::Engine end to end against transformers 4.57.1 (tests/golden/gen_qwen3vl_e2e.py): from
// snapshot files, frames files and messages to greedy tokens, on two tiny random Qwen3-VL models
// with the real tokenizer and Instruct chat template. Each case must reproduce HF generate()'s 32
// greedy tokens exactly and its first-step logits within 1e-4 (fp32, CPU).
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "app/engine.h"
#include "kernels/io/safetensors.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int64_t kGreedyTokens = 32;

fs::path golden() { return test::golden_dir("qwen3vl_e2e"); }

json expected() { return json::parse(test::read_file(golden() / "expected.json")); }

Role role_of(const std::string& name) {
  if (name == "system") return Role::System;
  if (name == "assistant") return Role::Assistant;
  return Role::User;
}

// A turn's messages in the generator's schema: HF's, media items naming a file under media/.
Request request_of(const json& messages) {
  Request request;
  for (const auto& m : messages) {
    Message message{role_of(m.at("role").get<std::string>()), {}};
    for (const auto& c : m.at("content")) {
      const auto type = c.at("type").get<std::string>();
      if (type == "text") {
        message.parts.push_back(Part::of_text(c.at("text").get<std::string>()));
      } else {
        const fs::path file = golden() / "media" / (c.at("file").get<std::string>() + ".safetensors");
        message.parts.push_back(type == "image" ? Part::image(file) : Part::video(file));
      }
    }
    request.messages.push_back(std::move(message));
  }
  request.generation.temperature = 0;
  request.generation.max_new_tokens = kGreedyTokens;
  return request;
}

EngineOptions options_for(const std::string& model) {
  EngineOptions options;
  options.model = (golden() / model / "model").string();
  options.dtype = "fp32";
  return options;
}

at::Tensor first_step_logits(const Engine& engine, const test::TempDir& tmp) {
  const fs::path file = tmp / "logits.safetensors";
  engine.dump_logits(file);
  return io::SafetensorsFile::open(file).tensor("logits")[0].clone();
}

class PipelineGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(PipelineGolden, GreedyContinuationsAndFirstLogitsMatchTransformers) {
  const std::string model = GetParam();
  const json cases = expected().at(model);
  const auto logits = io::SafetensorsFile::open(golden() / model / "logits.safetensors");
  Engine engine(options_for(model));
  test::TempDir tmp;
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& [name, turns] : cases.items()) {
    SCOPED_TRACE(model + "/" + name);
    engine.reset();
    for (size_t turn = 0; turn < turns.size(); ++turn) {
      SCOPED_TRACE("turn " + std::to_string(turn));
      const json& record = turns[turn];
      const Reply reply = engine.ask(request_of(record.at("messages")));
      EXPECT_EQ(reply.tokens, record.at("ids").get<std::vector<int32_t>>());
      // The answer as the conversation keeps it: HF's decode(skip_special_tokens=True).
      EXPECT_EQ(reply.text, record.at("answer").get<std::string>());
      TRIMVL_EXPECT_CLOSE(first_step_logits(engine, tmp), logits.tensor(name + "." + std::to_string(turn)), 0, 1e-4);
    }
  }
}

TEST_P(PipelineGolden, ScoreGivesTheLogProbabilitiesOfTheReferenceLogits) {
  const std::string model = GetParam();
  const json all = expected();
  const json& record = all.at(model).at("one_image").at(0);
  const at::Tensor reference =
      at::log_softmax(io::SafetensorsFile::open(golden() / model / "logits.safetensors").tensor("one_image.0"), -1);
  Engine engine(options_for(model));
  const Score score = engine.score(request_of(record.at("messages")), record.at("answer").get<std::string>());
  ASSERT_FALSE(score.tokens.empty());
  EXPECT_NEAR(score.tokens[0].logprob, reference[score.tokens[0].id].item<double>(), 1e-4);
  double total = 0;
  for (const auto& token : score.tokens) {
    EXPECT_LE(token.logprob, 0.0);
    total += token.logprob;
  }
  EXPECT_DOUBLE_EQ(score.total, total);
}

TEST_P(PipelineGolden, CancelledTurnLeavesTheConversationAsItWas) {
  const std::string model = GetParam();
  const json all = expected();
  const json& turns = all.at(model).at("two_turns_image_in_second");
  Engine engine(options_for(model));
  engine.ask(request_of(turns[0].at("messages")));
  try {
    engine.ask(request_of(turns[1].at("messages")), [&](std::string_view) { engine.cancel(); });
    FAIL() << "the request was not cancelled";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::Cancelled);
  }
  // The second turn again, now to the end: as if the cancelled attempt never happened.
  const Reply reply = engine.ask(request_of(turns[1].at("messages")));
  EXPECT_EQ(reply.tokens, turns[1].at("ids").get<std::vector<int32_t>>());
}

// The next turn prefills only its new tokens when the cache holds a prefix of its prompt (here: a
// one-token first answer, so the cache holds exactly the first prompt). That must give what a
// fresh engine computes from the whole conversation at once.
TEST_P(PipelineGolden, NextTurnReusingTheCacheEqualsTheWholeConversationAtOnce) {
  const std::string model = GetParam();
  const json all = expected();
  const json& turns = all.at(model).at("two_turns_image_in_second");
  Engine engine(options_for(model));
  Request first = request_of(turns[0].at("messages"));
  first.generation.max_new_tokens = 1;
  const Reply answer = engine.ask(first);
  const Reply next = engine.ask(request_of(turns[1].at("messages")));
  EXPECT_GT(next.stats.image_tokens, 0);
  EXPECT_LT(next.stats.prefilled_tokens, next.stats.prompt_tokens);

  Request whole = request_of(turns[0].at("messages"));
  whole.messages.push_back({Role::Assistant, {Part::of_text(answer.text)}});
  for (auto& message : request_of(turns[1].at("messages")).messages) whole.messages.push_back(std::move(message));
  Engine fresh(options_for(model));
  const Reply reference = fresh.ask(whole);
  EXPECT_EQ(reference.stats.prefilled_tokens, reference.stats.prompt_tokens);
  EXPECT_EQ(next.stats.prompt_tokens, reference.stats.prompt_tokens);
  EXPECT_EQ(next.tokens, reference.tokens);
}

INSTANTIATE_TEST_SUITE_P(TinyModels, PipelineGolden, ::testing::Values("gqa4", "odd"));

}  // namespace
}  // namespace trimvl::app
