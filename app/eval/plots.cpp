#include "app/eval/plots.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <opencv2/imgproc.hpp>

#include "app/trace/trace_render.h"
#include "app/chart_text.h"
#include "kernels/runtime/error.h"

namespace trimvl::app::eval {
namespace {

using chart::Align;
using chart::kFont;
using chart::text;
using chart::text_size;

constexpr int kWidth = 900, kHeight = 600;

const cv::Scalar kBackground{255, 255, 255};
const cv::Scalar kInk{40, 40, 40};
const cv::Scalar kGrid{232, 232, 232};
const cv::Scalar kAxis{150, 150, 150};

constexpr int kTitleFont = cv::FONT_HERSHEY_DUPLEX;
constexpr double kTitleScale = 0.7, kTextScale = 0.5, kTickScale = 0.45;

enum class Marker { Circle, Square, TriangleUp, Diamond, TriangleDown };

Marker marker_of(size_t index) { return static_cast<Marker>(index % 5); }

void draw_marker(cv::Mat& img, cv::Point c, Marker shape, const cv::Scalar& colour, int r = 5) {
  auto polygon = [&](std::vector<cv::Point> points) {
    cv::fillConvexPoly(img, points, colour, cv::LINE_AA);
    cv::polylines(img, points, true, kBackground, 1, cv::LINE_AA);
  };
  switch (shape) {
    case Marker::Circle:
      cv::circle(img, c, r, colour, cv::FILLED, cv::LINE_AA);
      cv::circle(img, c, r, kBackground, 1, cv::LINE_AA);
      break;
    case Marker::Square:
      polygon({{c.x - r + 1, c.y - r + 1},
               {c.x + r - 1, c.y - r + 1},
               {c.x + r - 1, c.y + r - 1},
               {c.x - r + 1, c.y + r - 1}});
      break;
    case Marker::TriangleUp:
      polygon({{c.x, c.y - r - 1}, {c.x + r + 1, c.y + r - 1}, {c.x - r - 1, c.y + r - 1}});
      break;
    case Marker::Diamond:
      polygon({{c.x, c.y - r - 1}, {c.x + r + 1, c.y}, {c.x, c.y + r + 1}, {c.x - r - 1, c.y}});
      break;
    case Marker::TriangleDown:
      polygon({{c.x - r - 1, c.y - r + 1}, {c.x + r + 1, c.y - r + 1}, {c.x, c.y + r + 1}});
      break;
  }
}

void dashed_line(cv::Mat& img, cv::Point a, cv::Point b, const cv::Scalar& colour, int thickness, int dash = 10,
                 int gap = 6) {
  const double length = std::hypot(b.x - a.x, b.y - a.y);
  for (double s = 0; s < length; s += dash + gap) {
    const double e = std::min(length, s + dash);
    const cv::Point p(a.x + static_cast<int>(std::lround((b.x - a.x) * s / length)),
                      a.y + static_cast<int>(std::lround((b.y - a.y) * s / length)));
    const cv::Point q(a.x + static_cast<int>(std::lround((b.x - a.x) * e / length)),
                      a.y + static_cast<int>(std::lround((b.y - a.y) * e / length)));
    cv::line(img, p, q, colour, thickness, cv::LINE_AA);
  }
}

// A round step giving about `target` ticks over `range`.
double nice_step(double range, int target) {
  const double raw = std::max(range, 1e-12) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * magnitude * (1 + 1e-9)) return m * magnitude;
  return 10 * magnitude;
}

std::string tick_label(double v, double step) {
  if (std::abs(v) < step * 1e-6) v = 0;  // no "-0.0" from accumulated steps
  const int decimals = std::max(0, static_cast<int>(std::ceil(-std::log10(step) - 1e-9)));
  return fmt::format("{:.{}f}", v, decimals);
}

std::string value_label(double v) { return fmt::format("{:.3g}", v); }

struct LegendEntry {
  std::string label;
  cv::Scalar colour;
  std::optional<Marker> marker;  // none: a dashed reference line
};

int legend_entry_width(const LegendEntry& e) { return 34 + text_size(e.label, kTextScale).width + 26; }

// Rows of entries centred under the title; returns the y below the last row.
int draw_legend(cv::Mat& img, const std::vector<LegendEntry>& entries, int top, int left, int right) {
  std::vector<std::vector<const LegendEntry*>> rows(1);
  int used = 0;
  for (const LegendEntry& e : entries) {
    const int w = legend_entry_width(e);
    if (!rows.back().empty() && used + w > right - left) {
      rows.emplace_back();
      used = 0;
    }
    rows.back().push_back(&e);
    used += w;
  }
  int y = top;
  for (const auto& row : rows) {
    int width = 0;
    for (const LegendEntry* e : row) width += legend_entry_width(*e);
    int x = left + (right - left - width) / 2;
    for (const LegendEntry* e : row) {
      if (e->marker) {
        cv::line(img, {x, y}, {x + 26, y}, e->colour, 2, cv::LINE_AA);
        draw_marker(img, {x + 13, y}, *e->marker, e->colour, 5);
      } else {
        dashed_line(img, {x, y}, {x + 26, y}, e->colour, 2, 8, 4);
      }
      text(img, e->label, {x + 34, y}, kTextScale, kInk);
      x += legend_entry_width(*e);
    }
    y += 24;
  }
  return y - 24 + 12;
}

void check_plot(const BudgetPlot& p, bool log_values) {
  bool any = !p.references.empty();
  auto check_value = [&](double v, std::string_view what) {
    TRIMVL_CHECK_ARG(std::isfinite(v), "plot '{}': {} has a non-finite value", p.title, what);
    TRIMVL_CHECK_ARG(!log_values || v > 0, "plot '{}': {} has the value {}, which a log axis cannot show", p.title,
                     what, v);
  };
  for (const BudgetSeries& s : p.series) {
    any = any || !s.points.empty();
    for (const BudgetPoint& pt : s.points) {
      TRIMVL_CHECK_ARG(pt.budget > 0, "plot '{}': series '{}' has budget {}; budgets must be positive", p.title,
                       s.label, pt.budget);
      check_value(pt.value, fmt::format("series '{}' at budget {}", s.label, pt.budget));
    }
  }
  for (const ReferenceLine& r : p.references) check_value(r.value, fmt::format("'{}'", r.label));
  TRIMVL_CHECK_ARG(any, "plot '{}' has nothing to draw: no configuration has a result", p.title);
}

// Every value with its error bar, as [lo, hi].
std::pair<double, double> value_span(const BudgetPlot& p, bool with_errors) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  auto take = [&](double v, const std::optional<double>& se) {
    const double e = with_errors && se && std::isfinite(*se) ? *se : 0;
    lo = std::min(lo, v - e);
    hi = std::max(hi, v + e);
  };
  for (const BudgetSeries& s : p.series)
    for (const BudgetPoint& pt : s.points) take(pt.value, pt.stderr_);
  for (const ReferenceLine& r : p.references) take(r.value, r.stderr_);
  return {lo, hi};
}

struct Ticks {
  std::vector<double> values;
  std::vector<std::string> labels;
};

// Scores: 0..1 in steps of 0.2 unless values leave it, then a round linear span.
Ticks score_axis(const BudgetPlot& p, BudgetChart& chart) {
  auto [lo, hi] = value_span(p, true);
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 1.0);
  const double step = lo == 0 && hi == 1 ? 0.2 : nice_step(hi - lo, 5);
  chart.y_lo = std::floor(lo / step + 1e-9) * step;
  chart.y_hi = std::ceil(hi / step - 1e-9) * step;
  Ticks ticks;
  for (double v = chart.y_lo; v <= chart.y_hi + step * 1e-6; v += step) {
    ticks.values.push_back(v);
    ticks.labels.push_back(tick_label(v, step));
  }
  return ticks;
}

// Memory: log10, so that budgets an order of magnitude apart (and full far above them) all show,
// and memory proportional to the budget is a straight line. Ticks at 1, 2, 5 × 10^k.
Ticks memory_axis(const BudgetPlot& p, BudgetChart& chart) {
  chart.y_log = true;
  const auto [lo, hi] = value_span(p, false);
  double a = std::log10(lo), b = std::log10(hi);
  if (b - a < 0.6) {  // less than a factor of 4: widen around the middle
    const double mid = (a + b) / 2;
    a = mid - 0.3;
    b = mid + 0.3;
  }
  const double pad = 0.06 * (b - a);
  chart.y_lo = std::pow(10.0, a - pad);
  chart.y_hi = std::pow(10.0, b + pad);
  Ticks ticks;
  for (const std::vector<int>& mantissas : {std::vector<int>{1, 2, 5}, std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}}) {
    ticks = {};
    for (int k = static_cast<int>(std::floor(a - pad)); k <= static_cast<int>(std::ceil(b + pad)); ++k)
      for (const int m : mantissas) {
        const double v = m * std::pow(10.0, k);
        if (v < chart.y_lo || v > chart.y_hi) continue;
        ticks.values.push_back(v);
        ticks.labels.push_back(fmt::format("{:g}", v));
      }
    if (ticks.values.size() >= 3) break;
  }
  return ticks;
}

BudgetChart render(const BudgetPlot& p, bool memory) {
  check_plot(p, memory);
  BudgetChart chart;
  chart.image = cv::Mat(kHeight, kWidth, CV_8UC3, kBackground);
  cv::Mat& img = chart.image;

  // Budgets: the x span (log2) and the ticks — every budget of the sweep when their labels fit,
  // else the powers of two in between.
  std::vector<int64_t> budgets;
  for (const BudgetSeries& s : p.series)
    for (const BudgetPoint& pt : s.points) budgets.push_back(pt.budget);
  std::sort(budgets.begin(), budgets.end());
  budgets.erase(std::unique(budgets.begin(), budgets.end()), budgets.end());
  const double lo2 = budgets.empty() ? 5.0 : std::log2(static_cast<double>(budgets.front()));
  const double hi2 = budgets.empty() ? 11.0 : std::log2(static_cast<double>(budgets.back()));
  chart.x_lo = lo2 - 0.5;
  chart.x_hi = hi2 + 0.5;
  chart.series = p.series.size();
  const Ticks y_ticks = memory ? memory_axis(p, chart) : score_axis(p, chart);

  // Layout: title, legend, plot, x-axis title; room on the left for tick labels and the y title.
  // A configuration without a budget has its value in the legend, not on the plot, where it
  // would collide with lines and markers.
  text(img, p.title, {kWidth / 2, 26}, kTitleScale, kInk, Align::Centre, kTitleFont);
  std::vector<LegendEntry> legend;
  for (size_t i = 0; i < p.series.size(); ++i) legend.push_back({p.series[i].label, series_colour(i), marker_of(i)});
  for (size_t i = 0; i < p.references.size(); ++i)
    legend.push_back({fmt::format("{} = {} (no budget)", p.references[i].label, value_label(p.references[i].value)),
                      reference_colour(i), std::nullopt});
  const int legend_bottom = draw_legend(img, legend, 58, 80, kWidth - 30);
  int tick_width = 0;
  for (const std::string& label : y_ticks.labels) tick_width = std::max(tick_width, text_size(label, kTickScale).width);
  const int left = 40 + tick_width + 14, right = kWidth - 30, top = legend_bottom + 14, bottom = kHeight - 68;
  chart.plot = cv::Rect(left, top, right - left, bottom - top);
  const cv::Rect& plot = chart.plot;
  // Dodge: at most 8 px between series, and the spread of all of them at most 60% of the closest
  // two budgets' distance, so that neighbouring budgets' marker groups stay apart.
  if (chart.series > 1 && budgets.size() > 1) {
    int closest = plot.width;
    for (size_t k = 0; k + 1 < budgets.size(); ++k)
      closest = std::min(
          closest, chart.at(static_cast<double>(budgets[k + 1]), 1).x - chart.at(static_cast<double>(budgets[k]), 1).x);
    chart.dodge = std::clamp(closest * 6 / 10 / static_cast<int>(chart.series - 1), 0, 8);
  }

  // Grid and axes.
  for (size_t t = 0; t < y_ticks.values.size(); ++t) {
    const int y = chart.y_of(y_ticks.values[t]);
    cv::line(img, {plot.x, y}, {plot.x + plot.width - 1, y}, kGrid, 1);
    cv::line(img, {plot.x - 5, y}, {plot.x, y}, kAxis, 1);
    text(img, y_ticks.labels[t], {plot.x - 9, y}, kTickScale, kInk, Align::Right);
  }
  std::vector<int64_t> ticks = budgets;
  int label_room = 0;
  for (int64_t b : ticks) label_room += text_size(fmt::format("{}", b), kTickScale).width + 16;
  if (ticks.empty() || label_room > plot.width) {
    ticks.clear();
    for (int e = static_cast<int>(std::ceil(chart.x_lo)); e <= static_cast<int>(std::floor(chart.x_hi)); ++e)
      ticks.push_back(int64_t{1} << std::clamp(e, 0, 62));
    ticks.erase(std::unique(ticks.begin(), ticks.end()), ticks.end());
  }
  for (int64_t b : ticks) {
    const int x = chart.at(static_cast<double>(b), y_ticks.values.front()).x;
    cv::line(img, {x, plot.y}, {x, plot.y + plot.height - 1}, kGrid, 1);
    cv::line(img, {x, plot.y + plot.height}, {x, plot.y + plot.height + 5}, kAxis, 1);
    text(img, fmt::format("{}", b), {x, plot.y + plot.height + 17}, kTickScale, kInk, Align::Centre);
  }
  cv::rectangle(img, cv::Rect(plot.x - 1, plot.y - 1, plot.width + 2, plot.height + 2), kAxis, 1);
  text(img, "KV budget M (tokens per layer and KV head, log2 scale)",
       {plot.x + plot.width / 2, plot.y + plot.height + 44}, kTextScale, kInk, Align::Centre);
  chart::vertical_text(img, memory ? p.y_label + ", log scale" : p.y_label, {20, plot.y + plot.height / 2},
                       kTextScale, kInk, kBackground);

  // Reference lines: a translucent ± stderr band and the dashed line.
  for (size_t i = 0; i < p.references.size(); ++i) {
    const ReferenceLine& r = p.references[i];
    const cv::Scalar colour = reference_colour(i);
    if (r.stderr_ && *r.stderr_ > 0) {
      const int y0 = std::clamp(chart.y_of(r.value + *r.stderr_), plot.y, plot.y + plot.height - 1);
      const int y1 = std::clamp(chart.y_of(r.value - *r.stderr_), plot.y, plot.y + plot.height - 1);
      cv::Mat band = img(cv::Rect(plot.x, y0, plot.width, std::max(1, y1 - y0 + 1)));
      cv::Mat tint(band.size(), band.type(), colour);
      cv::addWeighted(band, 0.86, tint, 0.14, 0, band);
    }
    const int y = chart.y_of(r.value);
    dashed_line(img, {plot.x, y}, {plot.x + plot.width - 1, y}, colour, 2);
  }

  // Series by budget: every line and error bar first, then the markers on top of all of them.
  std::vector<std::vector<BudgetPoint>> sorted;
  for (const BudgetSeries& s : p.series) {
    sorted.push_back(s.points);
    std::sort(sorted.back().begin(), sorted.back().end(),
              [](const BudgetPoint& a, const BudgetPoint& b) { return a.budget < b.budget; });
  }
  for (size_t i = 0; i < sorted.size(); ++i) {
    const cv::Scalar colour = series_colour(i);
    for (size_t k = 0; k + 1 < sorted[i].size(); ++k)
      cv::line(img, chart.marker(i, static_cast<double>(sorted[i][k].budget), sorted[i][k].value),
               chart.marker(i, static_cast<double>(sorted[i][k + 1].budget), sorted[i][k + 1].value), colour, 2,
               cv::LINE_AA);
    for (const BudgetPoint& pt : sorted[i]) {
      if (!pt.stderr_ || !(*pt.stderr_ > 0)) continue;
      const cv::Point c = chart.marker(i, static_cast<double>(pt.budget), pt.value);
      const int y0 = chart.y_of(pt.value + *pt.stderr_), y1 = chart.y_of(pt.value - *pt.stderr_);
      cv::line(img, {c.x, y0}, {c.x, y1}, colour, 1, cv::LINE_AA);
      cv::line(img, {c.x - 5, y0}, {c.x + 5, y0}, colour, 1, cv::LINE_AA);
      cv::line(img, {c.x - 5, y1}, {c.x + 5, y1}, colour, 1, cv::LINE_AA);
    }
  }
  for (size_t i = 0; i < sorted.size(); ++i)
    for (const BudgetPoint& pt : sorted[i])
      draw_marker(img, chart.marker(i, static_cast<double>(pt.budget), pt.value), marker_of(i), series_colour(i));
  return chart;
}

}  // namespace

cv::Point BudgetChart::marker(size_t index, double budget, double value) const {
  const cv::Point p = at(budget, value);
  const double offset = (static_cast<double>(index) - (static_cast<double>(series) - 1) / 2) * dodge;
  return {p.x + static_cast<int>(std::lround(offset)), p.y};
}

cv::Point BudgetChart::at(double budget, double value) const {
  const double fx = (std::log2(budget) - x_lo) / (x_hi - x_lo);
  return {plot.x + static_cast<int>(std::lround(fx * (plot.width - 1))), y_of(value)};
}

int BudgetChart::y_of(double value) const {
  const double fy = y_log ? (std::log10(value) - std::log10(y_lo)) / (std::log10(y_hi) - std::log10(y_lo))
                          : (value - y_lo) / (y_hi - y_lo);
  return plot.y + plot.height - 1 - static_cast<int>(std::lround(fy * (plot.height - 1)));
}

cv::Scalar series_colour(size_t index) {
  // Okabe–Ito: told apart with the common colour-vision deficiencies (BGR).
  static const cv::Scalar palette[] = {
      {178, 114, 0},    // blue
      {0, 159, 230},    // orange
      {115, 158, 0},    // bluish green
      {0, 94, 213},     // vermillion
      {167, 121, 204},  // reddish purple
      {233, 180, 86},   // sky blue
      {66, 228, 240},   // yellow
  };
  return palette[index % std::size(palette)];
}

cv::Scalar reference_colour(size_t index) {
  static const cv::Scalar greys[] = {{60, 60, 60}, {130, 130, 130}};
  return greys[index % std::size(greys)];
}

namespace {

// One result into its policy's series, or as a reference line when it has no budget.
void add_result(BudgetPlot& p, const TaskResult& r, double value, std::optional<double> stderr_) {
  if (!r.config.budget) {
    p.references.push_back({r.config.policy, value, stderr_});
    return;
  }
  auto it =
      std::find_if(p.series.begin(), p.series.end(), [&](const BudgetSeries& s) { return s.label == r.config.policy; });
  if (it == p.series.end()) it = p.series.insert(p.series.end(), BudgetSeries{r.config.policy, {}});
  it->points.push_back({*r.config.budget, value, stderr_});
}

}  // namespace

BudgetPlot accuracy_plot_data(const std::vector<TaskResult>& results, std::string_view task, std::string_view metric) {
  BudgetPlot p;
  p.title = fmt::format("{}: {} vs KV budget", task, metric);
  p.y_label = std::string(metric);
  bool task_seen = false;
  for (const TaskResult& r : results) {
    if (r.task != task) continue;
    task_seen = true;
    if (const MetricResult* m = r.metric(metric)) add_result(p, r, m->mean, m->stderr_);
  }
  TRIMVL_CHECK_ARG(task_seen, "no results for task '{}' to plot", task);
  TRIMVL_CHECK_ARG(!p.series.empty() || !p.references.empty(), "task '{}' has no metric '{}' to plot", task, metric);
  return p;
}

BudgetPlot kv_memory_plot_data(const std::vector<TaskResult>& results, std::string_view task) {
  BudgetPlot p;
  p.title = fmt::format("{}: peak KV cache vs KV budget", task);
  p.y_label = "mean peak KV cache (MiB)";
  bool task_seen = false;
  for (const TaskResult& r : results) {
    if (r.task != task) continue;
    task_seen = true;
    if (r.mean_peak_kv_bytes) add_result(p, r, *r.mean_peak_kv_bytes / (1024.0 * 1024.0), std::nullopt);
  }
  TRIMVL_CHECK_ARG(task_seen, "no results for task '{}' to plot", task);
  TRIMVL_CHECK_ARG(!p.series.empty() || !p.references.empty(), "task '{}' has no KV memory figures to plot", task);
  return p;
}

BudgetChart render_accuracy_vs_budget(const BudgetPlot& plot) { return render(plot, false); }
BudgetChart render_kv_memory_vs_budget(const BudgetPlot& plot) { return render(plot, true); }

void plot_accuracy_vs_budget(const std::filesystem::path& path, const BudgetPlot& plot) {
  write_png(render_accuracy_vs_budget(plot).image, path);
}

void plot_kv_memory_vs_budget(const std::filesystem::path& path, const BudgetPlot& plot) {
  write_png(render_kv_memory_vs_budget(plot).image, path);
}

}  // namespace trimvl::app::eval
