// app/eval/run_directory.h: model names sanitised as lmms-eval's sanitize_model_name does, the
// same config resuming into the same dated files, a different one starting a new run, and the
// manifest's bad-input errors.
#include "app/eval/run_directory.h"

#include <cstdlib>
#include <ctime>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

// Dates are local time: pin the zone so that expected dates can be written down.
class RunDirectoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* tz = std::getenv("TZ")) saved_tz_ = tz;
    ::setenv("TZ", "UTC", 1);
    ::tzset();
  }
  void TearDown() override {
    if (saved_tz_)
      ::setenv("TZ", saved_tz_->c_str(), 1);
    else
      ::unsetenv("TZ");
    ::tzset();
  }
  // 1795000000 s after the epoch is 2026-11-18 11:06:40 UTC.
  static Clock::time_point at(int seconds_later = 0) {
    return Clock::from_time_t(1795000000) + std::chrono::seconds(seconds_later);
  }
  test::TempDir tmp;
  const json config = {{"dataset", "/d/eval.jsonl"}, {"kv_policy", {"full", "dbtrimkv"}}, {"kv_budget", {64, 128}}};

 private:
  std::optional<std::string> saved_tz_;
};

TEST(SanitiseModelName, FollowsLmmsEval) {
  // lmms_eval/utils.py sanitize_model_name: the last two '/' parts, runs of "<>:/\|?*[] → "__".
  EXPECT_EQ(sanitise_model_name("lmms-lab/llava-onevision-qwen2-0.5b"), "lmms-lab__llava-onevision-qwen2-0.5b");
  EXPECT_EQ(sanitise_model_name("Qwen3-VL-4B-Instruct"), "Qwen3-VL-4B-Instruct");
  EXPECT_EQ(sanitise_model_name("/data/hf/models/Qwen3-VL-4B"), "models__Qwen3-VL-4B");
  EXPECT_EQ(sanitise_model_name("/Qwen3-VL-4B"), "__Qwen3-VL-4B");
  EXPECT_EQ(sanitise_model_name("a//b"), "__b");  // "a//b".split("/")[-2:] == ["", "b"]
  EXPECT_EQ(sanitise_model_name("org/we?ird*:|name[1]"), "org__we__ird__name__1__");
  EXPECT_EQ(sanitise_model_name("org/model/"), "org__model") << "a trailing '/' is dropped first";
  EXPECT_THROW(sanitise_model_name(""), Error);
  EXPECT_THROW(sanitise_model_name("."), Error);
  EXPECT_THROW(sanitise_model_name(".."), Error) << "'..' would climb out of the output directory";
  EXPECT_EQ(sanitise_model_name("x/.."), "x__..");
}

TEST_F(RunDirectoryTest, TheSameConfigResumesIntoTheSameFiles) {
  const RunDirectory first = open_run(tmp.path(), "Qwen/Qwen3-VL-4B-Instruct", config, true, at());
  EXPECT_FALSE(first.resumed);
  EXPECT_EQ(first.dir, tmp.path() / "Qwen__Qwen3-VL-4B-Instruct");
  EXPECT_EQ(first.date, "20261118_110640");
  EXPECT_EQ(first.results(), first.dir / "20261118_110640_results.json");
  EXPECT_EQ(first.samples("counting@dbtrimkv-M64"), first.dir / "20261118_110640_samples_counting@dbtrimkv-M64.jsonl");
  EXPECT_EQ(first.summary_csv(), first.dir / "20261118_110640_summary.csv");
  EXPECT_EQ(first.accuracy_plot("counting", "exact_match"),
            first.dir / "20261118_110640_accuracy_counting_exact_match.png");
  EXPECT_EQ(first.kv_memory_plot("what came first?"), first.dir / "20261118_110640_kv_memory_what_came_first_.png");
  EXPECT_EQ(first.config_hash.size(), 16u);

  // An hour later, the same command (its config built in another key order) resumes.
  const json same =
      json::parse(R"({"kv_budget": [64, 128], "kv_policy": ["full", "dbtrimkv"], "dataset": "/d/eval.jsonl"})");
  const RunDirectory again = open_run(tmp.path(), "Qwen/Qwen3-VL-4B-Instruct", same, true, at(3600));
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.date, first.date);
  EXPECT_EQ(again.config_hash, first.config_hash);

  const json manifest = json::parse(test::read_file(first.manifest()));
  ASSERT_EQ(manifest.at("runs").size(), 1u);
  EXPECT_EQ(manifest["runs"][0].at("config"), config);
  EXPECT_EQ(manifest["runs"][0].at("model"), "Qwen/Qwen3-VL-4B-Instruct");
}

TEST_F(RunDirectoryTest, ADifferentConfigStartsANewRun) {
  const RunDirectory a = open_run(tmp.path(), "m", config, true, at());
  json other = config;
  other["kv_budget"] = {64};
  const RunDirectory b = open_run(tmp.path(), "m", other, true, at(60));
  EXPECT_FALSE(b.resumed);
  EXPECT_EQ(b.date, "20261118_110740");
  EXPECT_NE(b.config_hash, a.config_hash);
  // Both stay resumable.
  EXPECT_EQ(open_run(tmp.path(), "m", config, true, at(120)).date, a.date);
  EXPECT_EQ(open_run(tmp.path(), "m", other, true, at(120)).date, b.date);
}

TEST_F(RunDirectoryTest, ASecondRunStartedTheSameSecondMovesOn) {
  const RunDirectory a = open_run(tmp.path(), "m", config, true, at());
  const RunDirectory b = open_run(tmp.path(), "m", {{"other", 1}}, true, at());
  EXPECT_EQ(a.date, "20261118_110640");
  EXPECT_EQ(b.date, "20261118_110641");
  // A file of that date that the manifest does not know (a copied-in run) also takes the date.
  test::write_file(a.dir / "20261118_110642_results.json", "{}");
  EXPECT_EQ(open_run(tmp.path(), "m", {{"other", 2}}, true, at()).date, "20261118_110643");
}

TEST_F(RunDirectoryTest, WithoutResumeTheSameConfigStartsAfreshAndThenResumesTheNewest) {
  const RunDirectory a = open_run(tmp.path(), "m", config, true, at());
  const RunDirectory b = open_run(tmp.path(), "m", config, false, at(10));
  EXPECT_FALSE(b.resumed);
  EXPECT_EQ(b.date, "20261118_110650");
  EXPECT_EQ(open_run(tmp.path(), "m", config, true, at(20)).date, b.date);
}

TEST_F(RunDirectoryTest, AManifestThatIsNotOursIsOneErrorNamingIt) {
  const std::filesystem::path manifest = tmp / "m/run.json";
  auto message = [&] {
    try {
      open_run(tmp.path(), "m", config, true, at());
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
      return std::string(e.what());
    }
    return std::string("no error");
  };
  test::write_file(manifest, "{\"runs\": [");
  EXPECT_NE(message().find(manifest.string()), std::string::npos) << message();
  test::write_file(manifest, R"({"results": {}})");
  EXPECT_NE(message().find("not a trimvl eval run manifest"), std::string::npos) << message();
  test::write_file(manifest,
                   R"({"format": "trimvl-eval-runs", "version": 1, "runs": [{"date": "yesterday", "config": {}}]})");
  EXPECT_NE(message().find("runs[0] needs a \"date\""), std::string::npos) << message();
  test::write_file(manifest, R"({"format": "trimvl-eval-runs", "version": 2, "runs": []})");
  EXPECT_NE(message().find("version 2"), std::string::npos) << message();
}

TEST_F(RunDirectoryTest, AResultKeyThatCannotNameAFileIsRefused) {
  const RunDirectory run = open_run(tmp.path(), "m", config, true, at());
  EXPECT_THROW(run.samples("a/b@full"), Error);
  EXPECT_THROW(run.samples(""), Error);
}

}  // namespace
}  // namespace trimvl::app::eval
