#pragma once
// Charts of a policy × budget sweep (OpenCV; built only with TRIMVL_MEDIA), 900×600 PNGs:
//
//   accuracy vs budget    one line with markers per policy over x = KV budget M on a log2 axis,
//                         y = the metric (0..1 unless values leave it), error bars ± stderr; a
//                         configuration without a budget (full) is a dashed horizontal line with a
//                         shaded ± stderr band, its value in the legend.
//   KV memory vs budget   the same with y = mean peak KV cache in MiB on a log10 axis: budgets
//                         orders of magnitude apart and full far above them all stay readable, and
//                         memory proportional to M is a straight line.
//
// Markers of one budget are spread a few pixels apart (dodged) so that equal values stay visible.
// Each series has its own colour and marker shape (circle, square, triangle, diamond, ...), so the
// chart survives greyscale printing; `full` is dark grey. Images are 8-bit BGR, drawn anti-aliased.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

#include "app/eval/task_result.h"

namespace trimvl::app::eval {

struct BudgetPoint {
  int64_t budget = 0;  // M > 0
  double value = 0;
  std::optional<double> stderr_;
};

struct BudgetSeries {
  std::string label;                // the policy
  std::vector<BudgetPoint> points;  // any order; drawn by budget
};

struct ReferenceLine {  // a configuration without a budget
  std::string label;
  double value = 0;
  std::optional<double> stderr_;
};

struct BudgetPlot {
  std::string title;    // "counting: exact_match"
  std::string y_label;  // "exact_match", "peak KV cache (MiB)"
  std::vector<BudgetSeries> series;
  std::vector<ReferenceLine> references;
};

// From a sweep's results: one series per policy with budgets (in first-seen order), one reference
// per configuration without. Throws InvalidInput when the task (or its metric) has no result.
BudgetPlot accuracy_plot_data(const std::vector<TaskResult>& results, std::string_view task, std::string_view metric);
// Values are mean_peak_kv_bytes / 2^20; results without KV means are left out.
BudgetPlot kv_memory_plot_data(const std::vector<TaskResult>& results, std::string_view task);

struct BudgetChart {
  cv::Mat image;
  cv::Rect plot;              // the data area
  double x_lo = 0, x_hi = 1;  // log2(budget) at the plot's left and right edges
  double y_lo = 0, y_hi = 1;  // values at the bottom and top
  bool y_log = false;         // values on a log10 axis (KV memory)

  size_t series = 0;  // how many series share the budgets
  int dodge = 8;      // pixels between neighbouring series' markers at one budget (less when budgets crowd)

  // The pixel of (budget, value) on the axes.
  cv::Point at(double budget, double value) const;
  int y_of(double value) const;
  // The centre of series `index`'s marker: at(), moved sideways so that series with equal values
  // (KV memory of per-head policies at one budget is the same) stay visible side by side.
  cv::Point marker(size_t index, double budget, double value) const;
};

// Colours (BGR) of series i and of the reference lines: shared with tests.
cv::Scalar series_colour(size_t index);
cv::Scalar reference_colour(size_t index);

// Throw InvalidInput for a plot with nothing to draw, a budget ≤ 0, a non-finite value, or (KV
// memory) a value ≤ 0.
BudgetChart render_accuracy_vs_budget(const BudgetPlot& plot);
BudgetChart render_kv_memory_vs_budget(const BudgetPlot& plot);
// Render, PNG-encode, write atomically.
void plot_accuracy_vs_budget(const std::filesystem::path& path, const BudgetPlot& plot);
void plot_kv_memory_vs_budget(const std::filesystem::path& path, const BudgetPlot& plot);

}  // namespace trimvl::app::eval
