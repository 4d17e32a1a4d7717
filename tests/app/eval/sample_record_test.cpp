// app/eval/sample_record.h: the samples-file line (lmms-eval's fields plus the KV facts), its way
// back from a journal, and the KV means.
#include "app/eval/sample_record.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

using nlohmann::json;

SampleRecord example() {
  SampleRecord r;
  r.doc_id = 3;
  r.input = "How many circles?";
  r.answers = {"4"};
  r.response = "There are 4 circles.";
  r.filtered = "4";
  r.metrics = {{"anls", 1.0}, {"exact_match", 1.0}};
  r.config = {"dbtrimkv", 64};
  r.peak_kv_bytes = 1048576;
  r.kept_tokens = {12, 40, 0, 9};
  r.ttft_s = 0.25;
  r.tokens_per_s = 48.5;
  r.prompt_tokens = 310;
  r.generated_tokens = 9;
  r.trace = "traces/counting-3.trace.safetensors";
  return r;
}

TEST(SampleRecord, TheLineHasLmmsEvalsFieldsAndTheKvFacts) {
  const json expected = json::parse(R"({
    "doc_id": 3, "input": "How many circles?", "target": "4", "answers": ["4"],
    "resps": ["There are 4 circles."], "filtered_resps": "4", "anls": 1.0, "exact_match": 1.0,
    "kv_policy": "dbtrimkv", "kv_budget": 64, "kv_peak_bytes": 1048576,
    "kv_kept_tokens": {"text": 12, "image": 40, "video": 0, "generated": 9},
    "ttft_s": 0.25, "tokens_per_s": 48.5, "prompt_tokens": 310, "generated_tokens": 9,
    "trace": "traces/counting-3.trace.safetensors"})");
  EXPECT_EQ(to_json(example()), expected);
}

TEST(SampleRecord, TargetIsAStringAndBudgetNullForFull) {
  SampleRecord r = example();
  r.answers = {"4", "four"};
  r.config = {"full", std::nullopt};
  r.trace.reset();
  const json j = to_json(r);
  EXPECT_EQ(j.at("target"), R"(["4","four"])");
  EXPECT_EQ(j.at("answers"), json::array({"4", "four"}));
  EXPECT_TRUE(j.at("kv_budget").is_null());
  EXPECT_FALSE(j.contains("trace"));
  r.answers.clear();
  EXPECT_EQ(to_json(r).at("target"), "");
}

TEST(SampleRecord, ComesBackFromItsJsonUnchanged) {
  SampleRecord r = example();
  // A journal line also carries the key; metrics come back in name order.
  json line = to_json(r);
  line["key"] = "3";
  EXPECT_EQ(sample_from_json(line), r);
  r.config = {"full", std::nullopt};
  r.trace.reset();
  r.metrics = {{"anls", std::numeric_limits<double>::quiet_NaN()}};
  const SampleRecord back = sample_from_json(json::parse(to_json(r).dump()));
  ASSERT_EQ(back.metrics.size(), 1u);
  EXPECT_EQ(back.metrics[0].first, "anls");
  EXPECT_TRUE(std::isnan(back.metrics[0].second)) << "a NaN metric is written as null and read as NaN";
  EXPECT_EQ(back.config, r.config);
}

TEST(SampleRecord, AMetricNamedLikeAFieldIsRefused) {
  SampleRecord r = example();
  r.metrics = {{"target", 1.0}};
  EXPECT_THROW(to_json(r), Error);
}

TEST(SampleRecord, ABadRecordNamesTheField) {
  json line = to_json(example());
  line["kv_peak_bytes"] = "lots";
  try {
    sample_from_json(line, "/r/x_samples_t@full.jsonl");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), Error::Kind::InvalidInput);
    EXPECT_STREQ(e.what(),
                 "/r/x_samples_t@full.jsonl: sample record: field 'kv_peak_bytes' expected an integer, got \"lots\"");
  }
  line = to_json(example());
  line["kv_kept_tokens"].erase("video");
  try {
    sample_from_json(line);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "sample record: field 'kv_kept_tokens.video' is missing");
  }
  EXPECT_THROW(sample_from_json(json::array()), Error);
}

TEST(SampleRecord, KvMeansAreArithmeticMeans) {
  std::vector<SampleRecord> samples(3, example());
  samples[0].peak_kv_bytes = 100;
  samples[1].peak_kv_bytes = 200;
  samples[2].peak_kv_bytes = 600;
  samples[0].ttft_s = 0.5;
  samples[1].ttft_s = 1.0;
  samples[2].ttft_s = 3.0;
  samples[0].tokens_per_s = 10;
  samples[1].tokens_per_s = 20;
  samples[2].tokens_per_s = 60;
  const KvMeans m = kv_means(samples);
  EXPECT_DOUBLE_EQ(*m.peak_kv_bytes, 300.0);
  EXPECT_DOUBLE_EQ(*m.ttft_s, 1.5);
  EXPECT_DOUBLE_EQ(*m.tokens_per_s, 30.0);
  EXPECT_FALSE(kv_means({}).peak_kv_bytes.has_value());
}

}  // namespace
}  // namespace trimvl::app::eval
