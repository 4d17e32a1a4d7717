// `trimvl eval`'s run (app/eval/evaluator.h) on the end-to-end golden snapshot gqa4 with the rg10
// gates of trimkv_e2e: every journaled answer is what a fresh engine constructed with that KV
// configuration answers; results, CSV and journals agree; a second run resumes without loading the
// model; a torn journal is repaired and only the missing request rerun; likelihood MCQ picks the
// option `Engine::score` rates highest; invalid samples are skipped, or refused with --strict
// before the model is touched. Media are frames .safetensors, so this runs in the core build too.
#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "app/engine.h"
#include "app/eval/evaluator.h"
#include "app/eval/sample_journal.h"
#include "kernels/runtime/error.h"
#include "tests/support/golden.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

namespace fs = std::filesystem;

fs::path e2e() { return test::golden_dir("qwen3vl_e2e"); }
fs::path gates() { return test::golden_dir("trimkv_e2e") / "gates-rg10"; }

EngineOptions engine_options(const KvCacheSettings& kv) {
  EngineOptions o;
  o.model = (e2e() / "gqa4" / "model").string();
  o.dtype = "fp32";
  o.kv = kv;
  return o;
}

// Two tasks: free-form about an image, and multiple choice about another (and one text-only).
void write_dataset(const fs::path& file, const std::string& extra_line = "") {
  const std::string media = (e2e() / "media").string();
  std::ofstream out(file);
  out << nlohmann::json{{"id", "d1"}, {"task", "describe"}, {"question", "What is in this picture?"},
                        {"images", {media + "/image_a.safetensors"}}, {"answer", "a cat"}}.dump() << "\n";
  out << nlohmann::json{{"id", "m1"}, {"task", "choose"}, {"question", "Which colour dominates?"},
                        {"images", {media + "/image_b.safetensors"}}, {"choices", {"red", "green", "blue"}},
                        {"answer", "B"}}.dump() << "\n";
  out << nlohmann::json{{"id", "d2"}, {"task", "describe"}, {"question", "Say hello."}, {"answer", "hello"}}.dump()
      << "\n";
  out << extra_line;
}

class EvalGolden : public ::testing::Test {
 protected:
  void SetUp() override {
    write_dataset(tmp_ / "data.jsonl");
    KvCacheSettings common;
    common.buffer = 2;
    common.prefill_chunk = 8;  // so a bounded cache stays bounded during the prefill too
    common.gates = gates().string();
    options_.dataset = tmp_ / "data.jsonl";
    options_.output_dir = tmp_ / "out";
    options_.model_name = "tests/gqa4";
    options_.policies = {"full", "dbtrimkv"};
    options_.budgets = {4};
    options_.configs = expand_sweep(options_.policies, options_.budgets, common);
    options_.generation.max_new_tokens = 6;
    options_.progress = false;
  }

  // Runs with a lazily constructed engine; counts how often the run asked for it.
  EvalOutcome run(const EvalOptions& options) {
    std::unique_ptr<Engine> engine;
    return run_eval(options, [&]() -> Engine& {
      ++engine_requests_;
      if (!engine) engine = std::make_unique<Engine>(engine_options(options.configs.front().settings));
      return *engine;
    });
  }

  std::vector<nlohmann::json> journal(const EvalOutcome& outcome, const std::string& key) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(outcome.run.samples(key));
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  test::TempDir tmp_;
  EvalOptions options_;
  int64_t engine_requests_ = 0;
};

TEST_F(EvalGolden, EveryAnswerIsAFreshEnginesAnswerUnderItsConfiguration) {
  const EvalOutcome outcome = run(options_);
  ASSERT_EQ(options_.configs.size(), 2u);
  EXPECT_EQ(outcome.evaluated, 6);
  EXPECT_EQ(outcome.resumed, 0);
  EXPECT_EQ(outcome.failed, 0);
  ASSERT_EQ(outcome.results.size(), 4u);  // 2 tasks x 2 configurations

  const std::map<std::string, std::pair<std::string, std::vector<Part>>> questions = {
      {"d1", {"describe", {Part::image(e2e() / "media" / "image_a.safetensors"), Part::of_text("What is in this picture?")}}},
      {"d2", {"describe", {Part::of_text("Say hello.")}}},
      {"m1", {"choose", {Part::image(e2e() / "media" / "image_b.safetensors"),
                         Part::of_text("Which colour dominates?\nA. red\nB. green\nC. blue\n\nAnswer with the option's "
                                       "letter from the given choices directly.")}}}};
  for (const SweepConfig& c : options_.configs) {
    Engine fresh(engine_options(c.settings));
    for (const auto& [id, question] : questions) {
      Request request;
      request.messages.push_back({Role::User, question.second});
      request.generation.temperature = 0;
      request.generation.max_new_tokens = 6;
      fresh.reset();
      const Reply want = fresh.ask(request);
      const auto lines = journal(outcome, result_key(question.first, c.config));
      const auto it = std::find_if(lines.begin(), lines.end(), [&](const auto& l) { return l["key"] == id; });
      ASSERT_NE(it, lines.end()) << id << " under " << c.config.label();
      EXPECT_EQ((*it)["resps"][0], want.text) << id << " under " << c.config.label();
      EXPECT_EQ((*it)["kv_policy"], c.config.policy);
      EXPECT_EQ((*it)["kv_peak_bytes"], want.stats.peak_kv_bytes) << id << " under " << c.config.label();
      EXPECT_EQ((*it)["generated_tokens"], want.stats.generated_tokens);
    }
  }

  // The bounded configuration held less KV than the full one on the image question.
  const auto full = journal(outcome, "describe@full"), bounded = journal(outcome, "describe@dbtrimkv-M4");
  EXPECT_LT(bounded[0]["kv_peak_bytes"].get<int64_t>(), full[0]["kv_peak_bytes"].get<int64_t>());

  // The results file has every (task, configuration) with lmms-eval's keys and counts.
  std::ifstream in(outcome.run.results());
  const nlohmann::json results = nlohmann::json::parse(in);
  for (const std::string key : {"describe@full", "describe@dbtrimkv-M4", "choose@full", "choose@dbtrimkv-M4"}) {
    ASSERT_TRUE(results["results"].contains(key)) << key;
    EXPECT_TRUE(results["results"][key].contains("exact_match,none")) << key;
  }
  EXPECT_EQ(results["n-samples"]["describe@full"]["effective"], 2);
  EXPECT_EQ(results["n-samples"]["choose@dbtrimkv-M4"]["original"], 1);
  EXPECT_TRUE(results["results"]["describe@full"].contains("anls,none"));
  EXPECT_TRUE(fs::exists(outcome.run.summary_csv()));
}

TEST_F(EvalGolden, ASecondRunResumesWithoutLoadingTheModel) {
  const EvalOutcome first = run(options_);
  EXPECT_GT(engine_requests_, 0);
  engine_requests_ = 0;
  const EvalOutcome second = run(options_);
  EXPECT_EQ(engine_requests_, 0);
  EXPECT_EQ(second.evaluated, 0);
  EXPECT_EQ(second.resumed, 6);
  EXPECT_EQ(second.run.date, first.run.date);
  EXPECT_EQ(test::read_file(second.run.samples("describe@full")), test::read_file(first.run.samples("describe@full")));

  // --fresh starts another run beside it.
  EvalOptions fresh = options_;
  fresh.resume = false;
  const EvalOutcome third = run(fresh);
  EXPECT_EQ(third.evaluated, 6);
}

TEST_F(EvalGolden, ATornJournalIsRepairedAndOnlyTheMissingRequestRerun) {
  options_.trace = true;
  const EvalOutcome first = run(options_);
  for (const nlohmann::json& line : journal(first, "describe@dbtrimkv-M4"))
    EXPECT_TRUE(fs::is_regular_file(first.run.dir / line["trace"].get<std::string>())) << line.dump();
  const fs::path file = first.run.samples("describe@dbtrimkv-M4");
  const std::string whole = test::read_file(file);
  // Drop the last line and leave half of it, as a kill in the middle of a write would.
  const size_t last = whole.rfind('\n', whole.size() - 2) + 1;
  test::write_file(file, whole.substr(0, last) + whole.substr(last, (whole.size() - last) / 2));
  const EvalOutcome second = run(options_);
  EXPECT_EQ(second.evaluated, 1);
  EXPECT_EQ(second.resumed, 5);
  // The same lines again, the rerun one with the same answer and KV facts (timings aside).
  const auto lines = [](const std::string& text) {
    std::vector<nlohmann::json> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      nlohmann::json j = nlohmann::json::parse(line);
      j.erase("ttft_s");
      j.erase("tokens_per_s");
      out.push_back(std::move(j));
    }
    return out;
  };
  EXPECT_EQ(lines(test::read_file(file)), lines(whole));
}

TEST_F(EvalGolden, LikelihoodMcqPicksTheOptionScoreRatesHighest) {
  options_.likelihood_mcq = true;
  options_.configs.resize(1);  // full
  options_.tasks = {"choose"};
  const EvalOutcome outcome = run(options_);
  EXPECT_EQ(outcome.evaluated, 1);
  Engine engine(engine_options(options_.configs.front().settings));
  Request request;
  request.messages.push_back({Role::User, {Part::image(e2e() / "media" / "image_b.safetensors"),
                                           Part::of_text("Which colour dominates?\nA. red\nB. green\nC. blue\n\nAnswer "
                                                         "with the option's letter from the given choices directly.")}});
  std::string best;
  double best_total = -1e300;
  for (const std::string letter : {"A", "B", "C"}) {
    const double total = engine.score(request, letter).total;
    if (total > best_total) best_total = total, best = letter;
  }
  const auto lines = journal(outcome, "choose@full");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["resps"][0], best);
  EXPECT_EQ(lines[0]["exact_match"], best == "B" ? 1.0 : 0.0);
}

TEST_F(EvalGolden, InvalidSamplesAreSkippedOrRefusedBeforeTheModelLoads) {
  write_dataset(tmp_ / "data.jsonl", "{\"id\": \"bad\", \"task\": \"describe\"}\n");
  options_.tasks = {"choose"};
  options_.configs.resize(1);
  const EvalOutcome outcome = run(options_);
  EXPECT_EQ(outcome.invalid_samples, 1);
  EXPECT_EQ(outcome.evaluated, 1);

  options_.strict = true;
  engine_requests_ = 0;
  try {
    run(options_);
    FAIL() << "a strict run accepted an invalid sample";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("line 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(engine_requests_, 0);

  options_.strict = false;
  options_.tasks = {"nope"};
  EXPECT_THROW(run(options_), Error);
  EXPECT_EQ(engine_requests_, 0);
}

}  // namespace
}  // namespace trimvl::app::eval
