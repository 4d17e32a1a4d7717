#include "app/trace/trace_render.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "kernels/runtime/atomic_file.h"
#include "app/chart_text.h"
#include "kernels/runtime/error.h"

namespace trimvl::app {
namespace {

using chart::Align;
using chart::kFont;
using chart::text;
using chart::text_size;

// ---- drawing helpers ----------------------------------------------------------------------------

const cv::Scalar kBackground{255, 255, 255};
const cv::Scalar kInk{40, 40, 40};
const cv::Scalar kMutedInk{110, 110, 110};
const cv::Scalar kGrid{228, 228, 228};
const cv::Scalar kNotYetSeen{242, 242, 242};

constexpr int kTitleFont = cv::FONT_HERSHEY_DUPLEX;
constexpr double kTitleScale = 0.62, kTextScale = 0.45, kSmallScale = 0.4;


// Legend entries laid out left to right from `at`; returns the x after the last.
int legend(cv::Mat& image, cv::Point at, const std::vector<std::pair<cv::Scalar, std::string>>& entries) {
  int x = at.x;
  for (const auto& [colour, label] : entries) {
    cv::rectangle(image, cv::Rect(x, at.y - 6, 12, 12), colour, cv::FILLED);
    cv::rectangle(image, cv::Rect(x, at.y - 6, 12, 12), kMutedInk, 1);
    text(image, label, {x + 18, at.y}, kTextScale, kInk);
    x += 18 + text_size(label, kTextScale).width + 22;
  }
  return x;
}

int legend_width(const std::vector<std::pair<cv::Scalar, std::string>>& entries) {
  int width = 0;
  for (const auto& entry : entries) width += 18 + text_size(entry.second, kTextScale).width + 22;
  return width;
}

// OpenCV's viridis as a 256-entry BGR table.
const cv::Mat& viridis_table() {
  static const cv::Mat table = [] {
    cv::Mat ramp(256, 1, CV_8UC1);
    for (int i = 0; i < 256; ++i) ramp.at<uint8_t>(i) = static_cast<uint8_t>(i);
    cv::Mat colours;
    cv::applyColorMap(ramp, colours, cv::COLORMAP_VIRIDIS);
    return colours;
  }();
  return table;
}

cv::Vec3b viridis(double t) {
  const int i = static_cast<int>(std::lround(std::clamp(t, 0.0, 1.0) * 255));
  return viridis_table().at<cv::Vec3b>(i);
}

cv::Vec3b vec(const cv::Scalar& s) {
  return {static_cast<uint8_t>(s[0]), static_cast<uint8_t>(s[1]), static_cast<uint8_t>(s[2])};
}

// A round step giving about `target` ticks over [0, range].
double nice_step(double range, int target) {
  const double raw = std::max(range, 1e-9) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * magnitude) return std::max(1.0, m * magnitude);
  return 10 * magnitude;
}

std::string count_label(double v) {
  if (std::abs(v) >= 1e6) return fmt::format("{:g}M", v / 1e6);
  if (std::abs(v) >= 1e4) return fmt::format("{:g}k", v / 1e3);
  return fmt::format("{:g}", v);
}

std::string score_label(double v) { return fmt::format("{:.4g}", v); }

std::vector<std::pair<cv::Scalar, std::string>> modality_legend() {
  std::vector<std::pair<cv::Scalar, std::string>> entries;
  for (size_t m = 0; m < cache::kModalities; ++m) {
    const auto modality = static_cast<cache::Modality>(m);
    entries.emplace_back(modality_colour(modality), std::string(cache::modality_name(modality)));
  }
  return entries;
}

// ---- heatmap ------------------------------------------------------------------------------------

// What fell into one cell: kept scores (finite ones summed), forced keeps, evictions.
struct Cell {
  int kept = 0, forced = 0, evicted = 0, finite = 0;
  double score_sum = 0;
};

struct Row {
  std::string label;
  int64_t seen = 0;  // positions at or past it were not yet seen (history rows)
  std::vector<Cell> cells;
  double lo = 0, hi = 0;  // finite kept scores, for per-row normalisation
  bool any_finite = false;
};

void add_candidate(Row& row, int64_t column, bool kept, float score) {
  Cell& cell = row.cells[static_cast<size_t>(column)];
  if (!kept) {
    ++cell.evicted;
    return;
  }
  ++cell.kept;
  if (score == std::numeric_limits<float>::infinity())
    ++cell.forced;
  else if (std::isfinite(score)) {
    ++cell.finite;
    cell.score_sum += score;
    row.lo = row.any_finite ? std::min(row.lo, double{score}) : score;
    row.hi = row.any_finite ? std::max(row.hi, double{score}) : score;
    row.any_finite = true;
  }
}

cv::Vec3b cell_colour(const Cell& cell, double lo, double hi) {
  if (cell.kept == 0) return vec(cell.evicted > 0 ? kEvictedColour : kAbsentColour);
  if (cell.forced > 0) return viridis(1.0);
  if (cell.finite == 0) return viridis(0.0);  // -inf or NaN: the policy ranked it last
  const double mean = cell.score_sum / cell.finite;
  return viridis(hi > lo ? (mean - lo) / (hi - lo) : 1.0);
}

void check_view(const Trace& trace, const HeatmapView& view) {
  const TraceHeader& h = trace.header;
  const auto events = static_cast<int64_t>(trace.events.size());
  if (events == 0)
    throw Error(
        fmt::format("the trace holds no evictions (policy {}): the cache kept every token, so there is no "
                    "retention heatmap to draw",
                    h.policy_description));
  TRIMVL_CHECK_ARG(!view.head || view.layer, "a kv head needs its layer (--layer) too");
  TRIMVL_CHECK_ARG(!view.layer || (*view.layer >= 0 && *view.layer < h.num_layers),
                   "layer {} is out of range: the trace has {} layers (0..{})", *view.layer, h.num_layers,
                   h.num_layers - 1);
  TRIMVL_CHECK_ARG(!view.head || (*view.head >= 0 && *view.head < h.num_kv_heads),
                   "kv head {} is out of range: the trace has {} kv heads per layer (0..{})", *view.head,
                   h.num_kv_heads, h.num_kv_heads - 1);
  TRIMVL_CHECK_ARG(!view.event || (*view.event >= 0 && *view.event < events),
                   "event {} is out of range: the trace holds {} evictions (0..{})", *view.event, events, events - 1);
  TRIMVL_CHECK_ARG(view.max_width >= 16, "the heatmap needs at least 16 columns, got {}", view.max_width);
}

}  // namespace

cv::Scalar modality_colour(cache::Modality modality) {
  switch (modality) {  // seaborn's "deep" palette: distinct, and none of them viridis or red
    case cache::Modality::Text:
      return {176, 114, 76};  // blue
    case cache::Modality::Image:
      return {82, 132, 221};  // orange
    case cache::Modality::Video:
      return {104, 168, 85};  // green
    case cache::Modality::Generated:
      return {179, 114, 129};  // purple
  }
  return kMutedInk;
}

cv::Point Heatmap::cell(int row, int64_t position) const {
  const int64_t column = position / tokens_per_column;
  return {plot.x + static_cast<int>(column) * column_width + column_width / 2,
          row_top.at(static_cast<size_t>(row)) + row_height / 2};
}

cv::Point Heatmap::band_at(int64_t position) const { return {cell(0, position).x, band.y + band.height / 2}; }

Heatmap render_heatmap(const Trace& trace, const HeatmapView& view) {
  check_view(trace, view);
  const TraceHeader& h = trace.header;
  const auto events = static_cast<int64_t>(trace.events.size());
  const bool history = view.head.has_value();
  const int64_t chosen = view.event.value_or(events - 1);
  const TraceEvent& event = trace.events[static_cast<size_t>(chosen)];

  int64_t seen = event.seen;
  if (history)
    for (const TraceEvent& e : trace.events) seen = std::max(seen, e.seen);

  Heatmap map;
  map.tokens_per_column = (seen + view.max_width - 1) / view.max_width;
  const int64_t columns = (seen + map.tokens_per_column - 1) / map.tokens_per_column;
  map.column_width = map.tokens_per_column > 1 ? 1 : static_cast<int>(std::clamp<int64_t>(1000 / columns, 1, 8));

  // Rows and what falls into their cells.
  std::vector<Row> rows;
  std::vector<int> group_of;  // rows of one layer form a group, separated by a gap
  auto new_row = [&](std::string label, int64_t row_seen, int group) {
    rows.push_back(Row{std::move(label), row_seen, std::vector<Cell>(static_cast<size_t>(columns))});
    group_of.push_back(group);
  };
  if (history) {
    const int stream = *view.layer * h.num_kv_heads + *view.head;
    for (const TraceEvent& e : trace.events) {
      new_row(fmt::format("e{} f{}", e.index, e.forward), e.seen, 0);
      for (int64_t c = 0; c < e.candidates(); ++c)
        if (e.stream[c] == stream)
          add_candidate(rows.back(), e.position[c] / map.tokens_per_column, e.kept[c], e.score[c]);
    }
  } else {
    const int first_layer = view.layer.value_or(0), last_layer = view.layer.value_or(h.num_layers - 1);
    for (int l = first_layer; l <= last_layer; ++l)
      for (int k = 0; k < h.num_kv_heads; ++k) new_row(fmt::format("L{} H{}", l, k), seen, l);
    const int first_stream = first_layer * h.num_kv_heads;
    for (int64_t c = 0; c < event.candidates(); ++c) {
      const int r = event.stream[c] - first_stream;
      if (r >= 0 && r < std::ssize(rows))
        add_candidate(rows[static_cast<size_t>(r)], event.position[c] / map.tokens_per_column, event.kept[c],
                      event.score[c]);
    }
  }
  // The shown rows share one scale (history rows keep their own: scores grow with age).
  double lo = 0, hi = 0;
  bool any_finite = false;
  for (const Row& r : rows)
    if (r.any_finite) {
      lo = any_finite ? std::min(lo, r.lo) : r.lo;
      hi = any_finite ? std::max(hi, r.hi) : r.hi;
      any_finite = true;
    }

  // Geometry.
  const int nrows = static_cast<int>(rows.size());
  const int groups = history ? 1 : group_of.back() - group_of.front() + 1;
  const int gap = groups > 1 ? 2 : 0;
  map.row_height = std::clamp(520 / nrows, 2, 22);
  int label_every = 1;  // rows per label, so labels stay 14 px apart
  while (map.row_height * label_every < 14) ++label_every;
  const bool label_groups = !history && map.row_height < 14;
  int label_width = 0;
  for (const Row& r : rows) label_width = std::max(label_width, text_size(r.label, kSmallScale).width);

  const int margin_left = label_width + 24;
  const int plot_width = static_cast<int>(columns) * map.column_width;
  const int plot_height = nrows * map.row_height + (groups - 1) * gap;
  const std::string hi_label = history ? "high" : score_label(hi), lo_label = history ? "low" : score_label(lo);
  const int bar_label_width = std::max({text_size(hi_label, kSmallScale).width, text_size(lo_label, kSmallScale).width,
                                        text_size("score", kSmallScale).width});
  const int margin_right = 24 + 14 + 8 + bar_label_width + 24;

  const std::string title = history ? fmt::format("Retention history of layer {}, kv head {}  |  {}", *view.layer,
                                                  *view.head, h.policy_description)
                                    : fmt::format("Retention at eviction {}  |  {}", event.index, h.policy_description);
  int kept = 0, evicted = 0;
  for (uint8_t k : event.kept) (k ? kept : evicted) += 1;
  const std::string subtitle =
      history ? fmt::format("one row per eviction: eN fM = eviction N, after forward M; colours scaled per row  |  {}",
                            h.model)
              : fmt::format("trace event {} of 0..{}: after forward {}, {} tokens seen, {} kept, {} evicted{}  |  {}",
                            chosen, events - 1, event.forward, event.seen, kept, evicted,
                            view.layer ? " (all layers)" : "", h.model);
  std::vector<std::pair<cv::Scalar, std::string>> cell_legend = {{kEvictedColour, "evicted at this eviction"},
                                                                 {kAbsentColour, "not in the cache"}};
  if (history) cell_legend.emplace_back(kNotYetSeen, "not yet seen");
  const auto modalities = modality_legend();

  const int content_width =
      std::max({text_size(title, kTitleScale, kTitleFont).width, text_size(subtitle, kTextScale).width,
                legend_width(modalities) + 90, legend_width(cell_legend) + 120});
  const int width = std::max(margin_left + plot_width + margin_right, content_width + margin_left + 24);
  const int band_top = 84, band_height = 12;
  const int plot_top = band_top + band_height + 6;
  const int height = plot_top + plot_height + 96;
  map.image = cv::Mat(height, width, CV_8UC3, kBackground);
  cv::Mat& img = map.image;
  map.plot = cv::Rect(margin_left, plot_top, plot_width, plot_height);
  map.band = cv::Rect(margin_left, band_top, plot_width, band_height);

  text(img, title, {margin_left, 22}, kTitleScale, kInk, Align::Left, kTitleFont);
  text(img, subtitle, {margin_left, 46}, kTextScale, kMutedInk);
  text(img, "tokens:", {margin_left, 68}, kTextScale, kInk);
  legend(img, {margin_left + text_size("tokens:", kTextScale).width + 10, 68}, modalities);

  // Modality band: each column takes the modality most of its tokens have.
  for (int64_t c = 0; c < columns; ++c) {
    cache::ModalityCounts counts{};
    const int64_t begin = c * map.tokens_per_column, end = std::min(seen, begin + map.tokens_per_column);
    for (int64_t p = begin; p < end; ++p) ++counts[static_cast<size_t>(trace.tokens[static_cast<size_t>(p)].modality)];
    const auto m = static_cast<cache::Modality>(std::max_element(counts.begin(), counts.end()) - counts.begin());
    cv::rectangle(
        img, cv::Rect(margin_left + static_cast<int>(c) * map.column_width, band_top, map.column_width, band_height),
        modality_colour(m), cv::FILLED);
  }

  // Cells.
  int y = plot_top;
  for (int r = 0; r < nrows; ++r) {
    if (r > 0 && group_of[r] != group_of[r - 1]) y += gap;
    map.row_top.push_back(y);
    const Row& row = rows[static_cast<size_t>(r)];
    const double row_lo = history ? row.lo : lo, row_hi = history ? row.hi : hi;
    for (int64_t c = 0; c < columns; ++c) {
      const bool unseen = c * map.tokens_per_column >= row.seen;
      const cv::Vec3b colour =
          unseen ? vec(kNotYetSeen) : cell_colour(row.cells[static_cast<size_t>(c)], row_lo, row_hi);
      img(cv::Rect(margin_left + static_cast<int>(c) * map.column_width, y, map.column_width, map.row_height))
          .setTo(cv::Scalar(colour[0], colour[1], colour[2]));
    }
    y += map.row_height;
  }
  cv::rectangle(img, cv::Rect(margin_left - 1, plot_top - 1, plot_width + 2, plot_height + 2), kMutedInk, 1);

  // Row labels: every row when they fit, else one per layer group (or every few history rows).
  if (label_groups) {
    int64_t last_label_y = -100;
    for (int r = 0; r < nrows; ++r) {
      if (r > 0 && group_of[r] == group_of[r - 1]) continue;
      int end = r;
      while (end + 1 < nrows && group_of[end + 1] == group_of[r]) ++end;
      const int centre = (map.row_top[r] + map.row_top[end] + map.row_height) / 2;
      if (centre - last_label_y < 14) continue;
      text(img, fmt::format("L{}", group_of[r]), {margin_left - 8, centre}, kSmallScale, kInk, Align::Right);
      last_label_y = centre;
    }
  } else {
    for (int r = 0; r < nrows; r += label_every)
      text(img, rows[static_cast<size_t>(r)].label, {margin_left - 8, map.row_top[r] + map.row_height / 2}, kSmallScale,
           kInk, Align::Right);
  }

  // x axis: stream positions.
  const double step = nice_step(static_cast<double>(seen), std::max(2, plot_width / 110));
  for (double p = 0; p < static_cast<double>(seen); p += step) {
    const int x = margin_left + static_cast<int>(p / static_cast<double>(map.tokens_per_column) * map.column_width);
    cv::line(img, {x, plot_top + plot_height + 1}, {x, plot_top + plot_height + 5}, kInk, 1);
    text(img, count_label(p), {x, plot_top + plot_height + 16}, kSmallScale, kInk, Align::Centre);
  }
  const std::string axis = map.tokens_per_column > 1
                               ? fmt::format("stream position ({} tokens per column)", map.tokens_per_column)
                               : std::string("stream position");
  text(img, axis, {margin_left + plot_width / 2, plot_top + plot_height + 38}, kTextScale, kInk, Align::Centre);
  legend(img, {margin_left, plot_top + plot_height + 68}, cell_legend);

  // Colour bar.
  const int bar_x = margin_left + plot_width + 24, bar_top = plot_top, bar_height = std::max(plot_height, 40);
  for (int i = 0; i < bar_height; ++i) {
    const cv::Vec3b c = viridis(1.0 - static_cast<double>(i) / std::max(1, bar_height - 1));
    cv::line(img, {bar_x, bar_top + i}, {bar_x + 13, bar_top + i}, cv::Scalar(c[0], c[1], c[2]));
  }
  cv::rectangle(img, cv::Rect(bar_x - 1, bar_top - 1, 16, bar_height + 2), kMutedInk, 1);
  text(img, "score", {bar_x, bar_top - 10}, kSmallScale, kInk);
  text(img, any_finite || history ? hi_label : "n/a", {bar_x + 22, bar_top + 5}, kSmallScale, kInk);
  text(img, any_finite || history ? lo_label : "n/a", {bar_x + 22, bar_top + bar_height - 5}, kSmallScale, kInk);
  text(img, "top: +inf (forced keep)", {width - 24, plot_top + plot_height + 68}, kSmallScale, kMutedInk, Align::Right);
  return map;
}

cv::Point ModalityChart::at(double forward, double tokens) const {
  const double span = static_cast<double>(last_forward + 1 - first_forward);
  const double fx = (forward - static_cast<double>(first_forward)) / span;
  return {plot.x + static_cast<int>(std::lround(fx * (plot.width - 1))),
          plot.y + plot.height - 1 - static_cast<int>(std::lround(tokens / max_tokens * (plot.height - 1)))};
}

ModalityChart render_modality_chart(const Trace& trace) {
  if (trace.steps.empty())
    throw Error(
        "the trace records no cache steps, so there is no budget-by-modality chart to draw (record "
        "steps with a step stride of 1 or more)");
  const TraceHeader& h = trace.header;
  const auto budget = retained_budget(h);
  ModalityChart chart;
  chart.first_forward = trace.steps.front().forward;
  chart.last_forward = trace.steps.back().forward;
  int64_t peak = 0;
  for (const TraceStep& s : trace.steps) peak = std::max(peak, s.cached_tokens);
  const double top = static_cast<double>(std::max<int64_t>({peak, budget.value_or(0), 1})) * 1.08;
  const double y_step = nice_step(top, 6);
  chart.max_tokens = std::ceil(top / y_step) * y_step;

  const auto modalities = modality_legend();
  const int legend_w = legend_width({modalities.front()}) + 60;
  chart.plot = cv::Rect(96, 70, 900, 380);
  chart.image = cv::Mat(chart.plot.y + chart.plot.height + 70, chart.plot.x + chart.plot.width + legend_w + 40, CV_8UC3,
                        kBackground);
  cv::Mat& img = chart.image;
  const cv::Rect& plot = chart.plot;

  text(img, fmt::format("Cached tokens by modality  |  {}", h.policy_description), {plot.x, 22}, kTitleScale, kInk,
       Align::Left, kTitleFont);
  text(img,
       fmt::format("{} recorded forwards, all {} layers x {} kv heads  |  {}", trace.steps.size(), h.num_layers,
                   h.num_kv_heads, h.model),
       {plot.x, 46}, kTextScale, kMutedInk);

  // Grid and y axis.
  for (double v = 0; v <= chart.max_tokens + 1e-9; v += y_step) {
    const int y = chart.at(static_cast<double>(chart.first_forward), v).y;
    cv::line(img, {plot.x, y}, {plot.x + plot.width - 1, y}, kGrid, 1);
    text(img, count_label(v), {plot.x - 8, y}, kSmallScale, kInk, Align::Right);
  }
  chart::vertical_text(img, "cached tokens (sum over layers and kv heads)", {28, plot.y + plot.height / 2},
                       kTextScale, kInk, kBackground);

  // Stacked areas, text at the bottom (Modality's order), each band between the running totals. A
  // step's state holds from its forward until the next recorded one (the last: one forward), so
  // the areas are staircases: an eviction is a drop, not a slope.
  const size_t n = trace.steps.size();
  std::vector<double> edges;  // step i spans [edges[i], edges[i + 1])
  for (const TraceStep& s : trace.steps) edges.push_back(static_cast<double>(s.forward));
  edges.push_back(static_cast<double>(chart.last_forward + 1));
  std::vector<double> below(n, 0.0);
  for (size_t m = 0; m < cache::kModalities; ++m) {
    std::vector<double> above(n);
    for (size_t i = 0; i < n; ++i) above[i] = below[i] + static_cast<double>(trace.steps[i].cached_by_modality[m]);
    std::vector<cv::Point> polygon;
    for (size_t i = 0; i < n; ++i) {
      polygon.push_back(chart.at(edges[i], above[i]));
      polygon.push_back(chart.at(edges[i + 1], above[i]));
    }
    for (size_t i = n; i-- > 0;) {
      polygon.push_back(chart.at(edges[i + 1], below[i]));
      polygon.push_back(chart.at(edges[i], below[i]));
    }
    cv::fillPoly(img, std::vector<std::vector<cv::Point>>{polygon}, modality_colour(static_cast<cache::Modality>(m)),
                 cv::LINE_8);
    below = std::move(above);
  }

  // Budget: dashed, labelled.
  if (budget) {
    const int y = chart.at(0, static_cast<double>(*budget)).y;
    for (int x = plot.x; x < plot.x + plot.width; x += 14)
      cv::line(img, {x, y}, {std::min(x + 8, plot.x + plot.width - 1), y}, kInk, 2, cv::LINE_AA);
    const std::string label = fmt::format("budget L*H*M = {}", *budget);
    const cv::Size size = text_size(label, kSmallScale);
    const cv::Point at{plot.x + plot.width - 8, y - 12};
    cv::rectangle(img, cv::Rect(at.x - size.width - 4, at.y - size.height / 2 - 4, size.width + 8, size.height + 8),
                  kBackground, cv::FILLED);
    text(img, label, at, kSmallScale, kInk, Align::Right);
  }

  // x axis: forwards.
  cv::rectangle(img, cv::Rect(plot.x - 1, plot.y - 1, plot.width + 2, plot.height + 2), kMutedInk, 1);
  const double x_step = nice_step(static_cast<double>(chart.last_forward + 1 - chart.first_forward), 8);
  for (double f = std::ceil(static_cast<double>(chart.first_forward) / x_step) * x_step;
       f <= static_cast<double>(chart.last_forward + 1) + 1e-9; f += x_step) {
    const int x = chart.at(f, 0).x;
    cv::line(img, {x, plot.y + plot.height}, {x, plot.y + plot.height + 5}, kInk, 1);
    text(img, count_label(f), {x, plot.y + plot.height + 16}, kSmallScale, kInk, Align::Centre);
  }
  text(img, "forward", {plot.x + plot.width / 2, plot.y + plot.height + 40}, kTextScale, kInk, Align::Centre);

  // Legend, top of the stack first, as the bands are stacked.
  int y = plot.y + 8;
  for (size_t m = cache::kModalities; m-- > 0;) {
    legend(img, {plot.x + plot.width + 24, y}, {modalities[m]});
    y += 22;
  }
  if (budget) {
    cv::line(img, {plot.x + plot.width + 24, y}, {plot.x + plot.width + 36, y}, kInk, 2, cv::LINE_AA);
    text(img, "budget", {plot.x + plot.width + 42, y}, kTextScale, kInk);
  }
  return chart;
}

void write_png(const cv::Mat& image, const std::filesystem::path& path) {
  std::vector<uint8_t> bytes;
  if (!cv::imencode(".png", image, bytes))
    throw Error("OpenCV could not encode the PNG", Error::Kind::Internal).file(path.string());
  write_file_atomically(path, {reinterpret_cast<const char*>(bytes.data()), bytes.size()});
}

}  // namespace trimvl::app
