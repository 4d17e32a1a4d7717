// app/eval/results_json.h against lmms-eval's layout: the keys evaluator.py, evaluator_utils.py
// (consolidate_results) and loggers/evaluation_tracker.py (save_results_aggregated) write, read off
// their source, and how a sweep's configurations appear.
#include "app/eval/results_json.h"

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"
#include "tests/app/eval/task_results.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

using nlohmann::json;

std::vector<TaskResult> sweep() {
  TaskResult full = make_result("counting", {"full", std::nullopt}, {{"exact_match", 0.75, 0.25, true}}, 10, 4);
  full.mean_peak_kv_bytes = 2097152;
  full.mean_ttft_s = 0.5;
  full.mean_tokens_per_s = 40;
  TaskResult m64 =
      make_result("counting", {"dbtrimkv", 64},
                  {{"exact_match", 0.5, 0.28867513459481287, true}, {"anls", 1.0, std::nullopt, true}}, 10, 4);
  TaskResult colours = make_result("colours", {"dbtrimkv", 64}, {{"exact_match", 1.0, 0.0, true}}, 3, 3);
  return {full, m64, colours};
}

ResultsInfo info() {
  ResultsInfo i;
  i.model_name = "Qwen/Qwen3-VL-4B-Instruct";
  i.model_args = "pretrained=Qwen/Qwen3-VL-4B-Instruct";
  i.config = {{"limit", 4}, {"gen_kwargs", {{"max_new_tokens", 32}}}, {"random_seed", 0}};
  i.policies = {"full", "dbtrimkv"};
  i.budgets = {64};
  i.git_hash = "2d66f31";
  i.trimvl_version = "0.1.0";
  i.date = "20261118_110640";
  i.start_time = 100.0;
  i.end_time = 112.5;
  i.task_versions = {{"counting", 1.0}};
  return i;
}

TEST(ResultsJson, HasTheTopLevelKeysLmmsEvalWrites) {
  const nlohmann::ordered_json out = results_json(sweep(), info());
  // evaluator.evaluate's results_dict (no groups), simple_evaluate's additions, the tracker's
  // task_hashes and GeneralConfigTracker fields — then our own block.
  std::vector<std::string> keys;
  for (const auto& [k, v] : out.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"results",
                                            "group_subtasks",
                                            "configs",
                                            "versions",
                                            "n-shot",
                                            "higher_is_better",
                                            "n-samples",
                                            "config",
                                            "git_hash",
                                            "date",
                                            "task_hashes",
                                            "model_source",
                                            "model_name",
                                            "model_name_sanitized",
                                            "system_instruction",
                                            "system_instruction_sha",
                                            "fewshot_as_multiturn",
                                            "chat_template",
                                            "chat_template_sha",
                                            "start_time",
                                            "end_time",
                                            "total_evaluation_time_seconds",
                                            "trimvl"}));
  EXPECT_EQ(out["git_hash"], "2d66f31");
  EXPECT_EQ(out["date"], "20261118_110640");
  EXPECT_EQ(out["model_name_sanitized"], "Qwen__Qwen3-VL-4B-Instruct");
  EXPECT_EQ(out["total_evaluation_time_seconds"], "12.5") << "a string, as lmms-eval's str(end - start)";
  EXPECT_EQ(out["task_hashes"], nlohmann::ordered_json::object());
}

TEST(ResultsJson, EachConfigurationIsATaskUnderItsKey) {
  const json out = json::parse(results_json(sweep(), info()).dump());
  const json& results = out.at("results");
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results.at("counting@full"), json::parse(R"({"alias": "counting@full", "exact_match,none": 0.75,
                                                          "exact_match_stderr,none": 0.25})"));
  const json& m64 = results.at("counting@dbtrimkv-M64");
  EXPECT_EQ(m64.at("exact_match,none"), 0.5);
  EXPECT_EQ(m64.at("anls,none"), 1.0);
  EXPECT_EQ(m64.at("anls_stderr,none"), "N/A") << "lmms-eval's mark for a stderr it cannot compute";
  EXPECT_TRUE(results.contains("colours@dbtrimkv-M64"));

  EXPECT_EQ(out["group_subtasks"].at("counting@full"), json::array());
  EXPECT_EQ(out["n-samples"].at("counting@dbtrimkv-M64"), json::parse(R"({"original": 10, "effective": 4})"));
  EXPECT_EQ(out["n-shot"].at("colours@dbtrimkv-M64"), 0);
  EXPECT_EQ(out["versions"].at("counting@full"), 1.0);
  EXPECT_EQ(out["versions"].at("colours@dbtrimkv-M64"), 0) << "a task without a version";
  EXPECT_EQ(out["higher_is_better"].at("counting@dbtrimkv-M64"), json::parse(R"({"exact_match": true, "anls": true})"));
  EXPECT_EQ(out["configs"].at("counting@dbtrimkv-M64"), json::parse(R"({
      "task": "counting@dbtrimkv-M64", "output_type": "generate_until",
      "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": true},
                      {"metric": "anls", "aggregation": "mean", "higher_is_better": true}],
      "metadata": {"version": 1.0},
      "trimvl": {"task": "counting", "kv_policy": "dbtrimkv", "kv_budget": 64}})"));
  EXPECT_EQ(out["configs"].at("counting@full").at("trimvl").at("kv_budget"), nullptr);
}

TEST(ResultsJson, ConfigHoldsTheModelTheSettingsAndTheSweep) {
  const json out = json::parse(results_json(sweep(), info()).dump());
  const json& config = out.at("config");
  EXPECT_EQ(config.at("model"), "Qwen/Qwen3-VL-4B-Instruct");
  EXPECT_EQ(config.at("model_args"), "pretrained=Qwen/Qwen3-VL-4B-Instruct");
  EXPECT_EQ(config.at("batch_size"), 1);
  EXPECT_EQ(config.at("limit"), 4);
  EXPECT_EQ(config.at("gen_kwargs").at("max_new_tokens"), 32);
  EXPECT_EQ(config.at("kv_sweep"), json::parse(R"({"policies": ["full", "dbtrimkv"], "budgets": [64]})"));

  const json& configurations = out.at("trimvl").at("configurations");
  ASSERT_EQ(configurations.size(), 3u);
  EXPECT_EQ(configurations[0], json::parse(R"({"key": "counting@full", "task": "counting", "kv_policy": "full",
      "kv_budget": null, "label": "full", "n": 4, "mean_peak_kv_bytes": 2097152.0, "mean_ttft_s": 0.5,
      "mean_tokens_per_s": 40.0})"));
  EXPECT_EQ(configurations[2].at("mean_ttft_s"), nullptr);
  EXPECT_EQ(out.at("trimvl").at("version"), "0.1.0");
}

TEST(ResultsJson, TwoResultsForOneKeyAreABug) {
  auto results = sweep();
  results.push_back(results.front());
  EXPECT_THROW(results_json(results, info()), Error);
}

TEST(ResultsJson, IsWrittenReadableAndUtf8AsIs) {
  test::TempDir tmp;
  auto results = sweep();
  results[2].task = "couleurs \xc3\xa9t\xc3\xa9";
  const auto out = results_json(results, info());
  write_results_json(tmp / "r.json", out);
  const std::string text = test::read_file(tmp / "r.json");
  EXPECT_NE(text.find("couleurs \xc3\xa9t\xc3\xa9@dbtrimkv-M64"), std::string::npos) << "not \\u-escaped";
  EXPECT_EQ(json::parse(text), json::parse(out.dump()));
}

}  // namespace
}  // namespace trimvl::app::eval
