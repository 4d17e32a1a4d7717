// app/eval/plots.h on made-up sweeps: the PNGs decode at 900×600, every marker sits where the
// chart's axes put its (budget, value) and has its series' colour, the budget axis is log2, and
// `full` is a dashed line at its value. Set TRIMVL_KEEP_PLOTS=<dir> to keep the PNGs for a look.
#include "app/eval/plots.h"

#include <cmath>
#include <cstdlib>

#include <gtest/gtest.h>
#include <opencv2/imgcodecs.hpp>

#include "kernels/runtime/error.h"
#include "tests/app/eval/task_results.h"
#include "tests/support/test_env.h"

namespace trimvl::app::eval {
namespace {

cv::Vec3b bgr(const cv::Scalar& s) {
  return {static_cast<uint8_t>(s[0]), static_cast<uint8_t>(s[1]), static_cast<uint8_t>(s[2])};
}

TaskResult result(std::string policy, std::optional<int64_t> budget, double mean, std::optional<double> se,
                  double kv_mib) {
  TaskResult r = make_result("counting", {std::move(policy), budget}, {{"exact_match", mean, se, true}}, 50, 50);
  r.mean_peak_kv_bytes = kv_mib * 1024 * 1024;
  return r;
}

// Four policies over budgets 32..1024 and full: accuracy rises with the budget, memory with it.
std::vector<TaskResult> sweep() {
  std::vector<TaskResult> out = {result("full", std::nullopt, 0.86, 0.03, 180)};
  const std::vector<std::string> policies = {"dbtrimkv", "trimkv", "snapkv", "streaming"};
  for (size_t p = 0; p < policies.size(); ++p)
    for (int e = 5; e <= 10; ++e) {
      const double acc = std::min(0.86, 0.30 + 0.09 * (e - 5) + 0.03 * (3 - static_cast<double>(p)) - 0.02 * p);
      out.push_back(result(policies[p], int64_t{1} << e, acc, 0.045 + 0.005 * p,
                           (1 << e) * 0.09 * (1.0 + 0.04 * static_cast<double>(p))));
    }
  return out;
}

void keep(const cv::Mat& image, const std::string& name) {
  if (const char* dir = std::getenv("TRIMVL_KEEP_PLOTS"))
    cv::imwrite((std::filesystem::path(dir) / name).string(), image);
}

TEST(Plots, AccuracyMarkersSitAtTheirValuesInTheirColours) {
  const auto results = sweep();
  const BudgetPlot data = accuracy_plot_data(results, "counting", "exact_match");
  ASSERT_EQ(data.series.size(), 4u);
  ASSERT_EQ(data.references.size(), 1u);
  EXPECT_EQ(data.series[0].label, "dbtrimkv");
  EXPECT_EQ(data.references[0].label, "full");

  const BudgetChart chart = render_accuracy_vs_budget(data);
  keep(chart.image, "accuracy.png");
  EXPECT_EQ(chart.image.cols, 900);
  EXPECT_EQ(chart.image.rows, 600);
  EXPECT_EQ(chart.y_lo, 0.0);
  EXPECT_EQ(chart.y_hi, 1.0) << "scores stay on 0..1";
  EXPECT_FALSE(chart.y_log);
  // x: log2(budget), half an octave of margin on both sides.
  EXPECT_DOUBLE_EQ(chart.x_lo, 4.5);
  EXPECT_DOUBLE_EQ(chart.x_hi, 10.5);

  for (size_t s = 0; s < data.series.size(); ++s)
    for (const BudgetPoint& p : data.series[s].points) {
      const cv::Point c = chart.marker(s, static_cast<double>(p.budget), p.value);
      ASSERT_TRUE(chart.plot.contains(c));
      EXPECT_EQ(chart.image.at<cv::Vec3b>(c), bgr(series_colour(s)))
          << data.series[s].label << " at M=" << p.budget << " (" << c.x << ", " << c.y << ")";
    }

  // The budget axis is logarithmic: each doubling is the same distance.
  const int step = chart.at(64, 0).x - chart.at(32, 0).x;
  EXPECT_GT(step, 100);
  for (const int64_t b : {64, 128, 256, 512}) EXPECT_NEAR(chart.at(2.0 * b, 0).x - chart.at(b, 0).x, step, 1) << b;
  // Value 0 on the bottom row of the plot, 1 on its top row.
  EXPECT_EQ(chart.y_of(0), chart.plot.y + chart.plot.height - 1);
  EXPECT_EQ(chart.y_of(1), chart.plot.y);

  // full: dashes in its colour along y = 0.86 (the first dash starts at the left edge).
  const int y = chart.y_of(0.86);
  const cv::Vec3b dash = chart.image.at<cv::Vec3b>(y, chart.plot.x + 4);
  EXPECT_LT(cv::norm(cv::Vec3d(dash) - cv::Vec3d(bgr(reference_colour(0)))), 60.0);
  // ... and a gap after each 10-pixel dash, where the band shows.
  const cv::Vec3b gap = chart.image.at<cv::Vec3b>(y, chart.plot.x + 13);
  EXPECT_GT(cv::norm(cv::Vec3d(gap) - cv::Vec3d(bgr(reference_colour(0)))), 100.0);
}

TEST(Plots, KvMemoryIsOnALogAxisThatFitsEveryValue) {
  const auto results = sweep();
  const BudgetPlot data = kv_memory_plot_data(results, "counting");
  const BudgetChart chart = render_kv_memory_vs_budget(data);
  keep(chart.image, "kv_memory.png");
  EXPECT_TRUE(chart.y_log);
  // From dbtrimkv's 32 · 0.09 = 2.88 MiB to full's 180 MiB, with a margin.
  EXPECT_LT(chart.y_lo, 2.88);
  EXPECT_GT(chart.y_lo, 1.0);
  EXPECT_GT(chart.y_hi, 180.0);
  EXPECT_LT(chart.y_hi, 400.0);
  // Each factor of ten is the same height.
  EXPECT_NEAR(chart.y_of(4) - chart.y_of(40), chart.y_of(20) - chart.y_of(200), 1);
  EXPECT_GT(chart.y_of(4) - chart.y_of(40), 100);
  for (size_t s = 0; s < data.series.size(); ++s)
    for (const BudgetPoint& p : data.series[s].points)
      EXPECT_EQ(chart.image.at<cv::Vec3b>(chart.marker(s, static_cast<double>(p.budget), p.value)),
                bgr(series_colour(s)))
          << data.series[s].label << " at M=" << p.budget;
  // dbtrimkv at M=1024 holds 1024 · 0.09 = 92.16 MiB.
  ASSERT_EQ(data.series[0].points.back().budget, 1024);
  EXPECT_DOUBLE_EQ(data.series[0].points.back().value, 92.16);
}

TEST(Plots, PngFilesDecodeToTheRenderedImages) {
  test::TempDir tmp;
  const auto results = sweep();
  const BudgetPlot accuracy = accuracy_plot_data(results, "counting", "exact_match");
  const BudgetPlot memory = kv_memory_plot_data(results, "counting");
  plot_accuracy_vs_budget(tmp / "a.png", accuracy);
  plot_kv_memory_vs_budget(tmp / "m.png", memory);
  const cv::Mat a = cv::imread((tmp / "a.png").string(), cv::IMREAD_COLOR);
  const cv::Mat m = cv::imread((tmp / "m.png").string(), cv::IMREAD_COLOR);
  ASSERT_FALSE(a.empty());
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(a.size(), cv::Size(900, 600));
  EXPECT_EQ(m.size(), cv::Size(900, 600));
  EXPECT_EQ(cv::norm(a, render_accuracy_vs_budget(accuracy).image, cv::NORM_INF), 0.0) << "PNG is lossless";
}

TEST(Plots, OneBudgetOnlyAndScoresBeyondOneStillFit) {
  std::vector<TaskResult> results = {result("dbtrimkv", 64, 0.5, std::nullopt, 10)};
  const BudgetChart one = render_accuracy_vs_budget(accuracy_plot_data(results, "counting", "exact_match"));
  keep(one.image, "one_budget.png");
  EXPECT_NEAR(one.at(64, 0.5).x, one.plot.x + (one.plot.width - 1) / 2.0, 0.5) << "alone, in the middle";
  EXPECT_EQ(one.image.at<cv::Vec3b>(one.marker(0, 64, 0.5)), bgr(series_colour(0)));
  results.push_back(result("trimkv", 64, 1.4, 0.1, 10));  // a metric that is not a fraction
  const BudgetChart wide = render_accuracy_vs_budget(accuracy_plot_data(results, "counting", "exact_match"));
  EXPECT_GE(wide.y_hi, 1.5);
  EXPECT_EQ(wide.image.at<cv::Vec3b>(wide.marker(1, 64, 1.4)), bgr(series_colour(1)));
  EXPECT_EQ(wide.marker(1, 64, 1.4).x - wide.marker(0, 64, 1.4).x, wide.dodge) << "two series, side by side";
}

TEST(Plots, ManyBudgetsAndLongNamesStillLayOut) {
  // Eleven budgets, some not powers of two, and policy names that wrap the legend onto two rows.
  std::vector<TaskResult> results = {result("full", std::nullopt, 0.97, 0.01, 900),
                                     result("dbtrimkv-threshold", std::nullopt, 0.93, 0.02, 400)};
  const std::vector<std::string> policies = {"dbtrimkv (rg10, floor 8)", "trimkv (rg, window 32)",
                                             "snapkv (window 32, pool 7)", "streaming (sink 4)", "h2o"};
  const std::vector<int64_t> budgets = {8, 16, 24, 32, 48, 64, 96, 128, 256, 1024, 4096};
  for (size_t p = 0; p < policies.size(); ++p)
    for (size_t b = 0; b < budgets.size(); ++b)
      results.push_back(result(policies[p], budgets[b],
                               std::min(0.99, 0.2 + 0.075 * static_cast<double>(b) - 0.04 * static_cast<double>(p)),
                               0.03, static_cast<double>(budgets[b]) * 0.09));
  const BudgetPlot data = accuracy_plot_data(results, "counting", "exact_match");
  const BudgetChart chart = render_accuracy_vs_budget(data);
  keep(chart.image, "many_budgets.png");
  keep(render_kv_memory_vs_budget(kv_memory_plot_data(results, "counting")).image, "many_budgets_kv.png");
  EXPECT_DOUBLE_EQ(chart.x_lo, 2.5);
  EXPECT_DOUBLE_EQ(chart.x_hi, 12.5);
  for (size_t s = 0; s < data.series.size(); ++s)
    for (const BudgetPoint& p : data.series[s].points)
      EXPECT_EQ(chart.image.at<cv::Vec3b>(chart.marker(s, static_cast<double>(p.budget), p.value)),
                bgr(series_colour(s)))
          << data.series[s].label << " at M=" << p.budget;
  EXPECT_EQ(data.references.size(), 2u);
}

TEST(Plots, NothingToPlotIsAnError) {
  const auto results = sweep();
  EXPECT_THROW(accuracy_plot_data(results, "colours", "exact_match"), Error);
  EXPECT_THROW(accuracy_plot_data(results, "counting", "anls"), Error);
  BudgetPlot bad = accuracy_plot_data(results, "counting", "exact_match");
  bad.series[0].points[0].value = std::nan("");
  EXPECT_THROW(render_accuracy_vs_budget(bad), Error);
  bad.series[0].points[0] = {0, 0.5, std::nullopt};
  EXPECT_THROW(render_accuracy_vs_budget(bad), Error);
  bad.series[0].points[0] = {32, 0.0, std::nullopt};
  EXPECT_NO_THROW(render_accuracy_vs_budget(bad));
  EXPECT_THROW(render_kv_memory_vs_budget(bad), Error) << "0 MiB has no place on a log axis";
  EXPECT_THROW(render_accuracy_vs_budget(BudgetPlot{}), Error);
}

}  // namespace
}  // namespace trimvl::app::eval
