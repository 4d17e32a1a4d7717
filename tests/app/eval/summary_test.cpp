// The CSV summary (RFC 4180) and the final table on stdout, against text written out by hand.
#include <gtest/gtest.h>

#include "app/eval/summary_csv.h"
#include "app/eval/summary_table.h"
#include "kernels/runtime/error.h"
#include "tests/app/eval/task_results.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

std::vector<TaskResult> sweep() {
  TaskResult full = make_result("counting", {"full", std::nullopt},
                                {{"exact_match", 0.85, 0.0819, true}, {"anls", 0.91, 0.05, true}}, 20, 20);
  full.mean_peak_kv_bytes = 13107200;  // 12.5 MiB
  full.mean_ttft_s = 0.21;
  full.mean_tokens_per_s = 48.5;
  TaskResult m64 = make_result("counting", {"dbtrimkv", 64}, {{"exact_match", 0.8, 0.0918, true}}, 20, 20);
  m64.mean_peak_kv_bytes = 3407872;  // 3.25 MiB
  m64.mean_ttft_s = 0.19;
  m64.mean_tokens_per_s = 51;
  return {full, m64};
}

TEST(SummaryCsv, QuotesFieldsAsRfc4180Says) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field(""), "");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(csv_field("cr\r"), "\"cr\r\"");
}

TEST(SummaryCsv, OneRowPerTaskPolicyBudgetAndMetric) {
  EXPECT_EQ(summary_csv(sweep()),
            "task,policy,budget,metric,mean,stderr,n,mean_peak_kv_bytes,mean_ttft_s,mean_tokens_per_s\r\n"
            "counting,full,,exact_match,0.85,0.0819,20,13107200,0.21,48.5\r\n"
            "counting,full,,anls,0.91,0.05,20,13107200,0.21,48.5\r\n"
            "counting,dbtrimkv,64,exact_match,0.8,0.0918,20,3407872,0.19,51\r\n");
}

TEST(SummaryCsv, MissingValuesAreEmptyAndOddNamesQuoted) {
  TaskResult r =
      make_result("what, \"first\"?", {"full", std::nullopt}, {{"anls", std::nan(""), std::nullopt, true}}, 1, 1);
  EXPECT_EQ(summary_csv({r}),
            "task,policy,budget,metric,mean,stderr,n,mean_peak_kv_bytes,mean_ttft_s,mean_tokens_per_s\r\n"
            "\"what, \"\"first\"\"?\",full,,anls,,,1,,,\r\n");
  test::TempDir tmp;
  write_summary_csv(tmp / "s.csv", {r});
  EXPECT_EQ(test::read_file(tmp / "s.csv"), summary_csv({r}));
}

TEST(SummaryTable, RowsPerConfigurationColumnsPerMetric) {
  EXPECT_EQ(summary_table(sweep()),
            "task      policy    budget   n  exact_match      anls             peak KV MiB  TTFT s  tok/s\n"
            "counting  full           -  20  0.8500 ± 0.0819  0.9100 ± 0.0500        12.50   0.210   48.5\n"
            "counting  dbtrimkv      64  20  0.8000 ± 0.0918  -                       3.25   0.190   51.0\n");
}

TEST(SummaryTable, AMetricWithoutStderrShowsTheMeanAlone) {
  TaskResult r = make_result("t", {"full", std::nullopt}, {{"anls", 0.5, std::nullopt, true}}, 1, 1);
  EXPECT_EQ(summary_table({r}),
            "task  policy  budget  n  anls    peak KV MiB  TTFT s  tok/s\n"
            "t     full         -  1  0.5000            -       -      -\n");
}

}  // namespace
}  // namespace trimvl::app::eval
