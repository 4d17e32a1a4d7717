// The trace renderer on the synthetic trace: where each token's cell is and what colour it takes,
// the modality band, and the stacked chart's order, checked against the trace's own records.
#include "app/trace/trace_render.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "kernels/runtime/error.h"
#include "tests/app/trace_fixture.h"

namespace trimvl::app {
namespace {

cv::Vec3b pixel(const cv::Mat& image, cv::Point p) { return image.at<cv::Vec3b>(p); }
cv::Vec3b bgr(const cv::Scalar& s) {
  return {static_cast<uint8_t>(s[0]), static_cast<uint8_t>(s[1]), static_cast<uint8_t>(s[2])};
}
cv::Vec3b viridis_top() {
  cv::Mat one(1, 1, CV_8UC1, cv::Scalar(255)), out;
  cv::applyColorMap(one, out, cv::COLORMAP_VIRIDIS);
  return out.at<cv::Vec3b>(0);
}

HeatmapView view(std::optional<int> layer, std::optional<int> head, std::optional<int64_t> event,
                 int max_width = 2048) {
  HeatmapView v;
  v.layer = layer;
  v.head = head;
  v.event = event;
  v.max_width = max_width;
  return v;
}

class TraceRender : public ::testing::Test {
 protected:
  Trace trace = test::synthetic_trace();
};

TEST_F(TraceRender, HeatmapPlacesEveryStreamAndPosition) {
  const Heatmap map = render_heatmap(trace, {});
  EXPECT_EQ(map.row_top.size(), 4u);
  EXPECT_EQ(map.tokens_per_column, 1);
  EXPECT_EQ(map.plot.width, test::kTraceTokens * map.column_width);
  EXPECT_EQ(map.plot.height, 4 * map.row_height + 2) << "two layers, one separator";
  EXPECT_EQ(map.row_top[2] - map.row_top[1], map.row_height + 2);
  const cv::Rect frame(0, 0, map.image.cols, map.image.rows);
  EXPECT_EQ((map.plot & frame), map.plot);
  EXPECT_GE(map.image.cols - map.plot.br().x, 60) << "room for the colour bar";

  // Modality band: text, then the image block, then text and generated tokens.
  EXPECT_EQ(pixel(map.image, map.band_at(5)), bgr(modality_colour(cache::Modality::Text)));
  EXPECT_EQ(pixel(map.image, map.band_at(test::kImageBegin + 50)), bgr(modality_colour(cache::Modality::Image)));
  EXPECT_EQ(pixel(map.image, map.band_at(test::kGeneratedBegin + 5)), bgr(modality_colour(cache::Modality::Generated)));

  // Every candidate of the last event where the trace says: evicted red, forced keeps and the best
  // finite score at the top of viridis; a position no stream candidate holds is dark.
  const TraceEvent& e = trace.events.back();
  float best = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < e.candidates(); ++c)
    if (e.kept[c] && std::isfinite(e.score[c])) best = std::max(best, e.score[c]);
  int evicted = 0, forced = 0, best_seen = 0;
  std::vector<std::vector<bool>> present(4, std::vector<bool>(test::kTraceTokens, false));
  for (int64_t c = 0; c < e.candidates(); ++c) {
    present[e.stream[c]][e.position[c]] = true;
    const cv::Vec3b got = pixel(map.image, map.cell(e.stream[c], e.position[c]));
    if (!e.kept[c]) {
      EXPECT_EQ(got, bgr(kEvictedColour)) << "stream " << e.stream[c] << " position " << e.position[c];
      ++evicted;
    } else if (std::isinf(e.score[c])) {
      EXPECT_EQ(got, viridis_top());
      ++forced;
    } else if (e.score[c] == best) {
      EXPECT_EQ(got, viridis_top());
      ++best_seen;
    } else {
      EXPECT_NE(got, bgr(kEvictedColour));
      EXPECT_NE(got, bgr(kAbsentColour));
    }
  }
  EXPECT_GT(evicted, 0);
  EXPECT_EQ(forced, 4);
  EXPECT_GT(best_seen, 0);
  int absent = 0;
  for (int s = 0; s < 4; ++s)
    for (int64_t p = 0; p < e.seen; ++p)
      if (!present[s][p]) {
        EXPECT_EQ(pixel(map.image, map.cell(s, p)), bgr(kAbsentColour));
        ++absent;
      }
  EXPECT_GT(absent, 0);
}

TEST_F(TraceRender, LayerHeadAndBinnedViews) {
  const Heatmap layer = render_heatmap(trace, view(1, {}, {}));
  EXPECT_EQ(layer.row_top.size(), 2u);

  // One stream's history: a row per event, and positions an event had not seen yet left blank.
  const Heatmap history = render_heatmap(trace, view(0, 1, {}));
  ASSERT_EQ(history.row_top.size(), 3u);
  const TraceEvent& first = trace.events.front();
  EXPECT_EQ(pixel(history.image, history.cell(0, first.seen + 5)), cv::Vec3b(242, 242, 242));
  for (int64_t c = 0; c < first.candidates(); ++c)
    if (first.stream[c] == 1 && !first.kept[c]) {
      EXPECT_EQ(pixel(history.image, history.cell(0, first.position[c])), bgr(kEvictedColour));
    }

  const Heatmap binned = render_heatmap(trace, view({}, {}, 0, 64));
  EXPECT_EQ(binned.tokens_per_column, 5);  // ceil(260 / 64)
  EXPECT_EQ(binned.plot.width, 52);
}

TEST_F(TraceRender, ModalityChartStacksTextBelowImageBelowGenerated) {
  const ModalityChart chart = render_modality_chart(trace);
  EXPECT_EQ(chart.first_forward, 0);
  EXPECT_EQ(chart.last_forward, 41);
  EXPECT_GE(chart.max_tokens, 4 * 32) << "the budget line fits";
  // Forward 30: text, image and generated tokens are all cached; sample the middle of each band.
  const TraceStep& step = trace.steps[30];
  ASSERT_EQ(step.forward, 30);
  const auto& n = step.cached_by_modality;
  ASSERT_GT(n[0], 4);
  ASSERT_GT(n[1], 4);
  ASSERT_GT(n[3], 4);
  const double text_mid = n[0] / 2.0, image_mid = n[0] + n[1] / 2.0, generated_mid = n[0] + n[1] + n[2] + n[3] / 2.0;
  EXPECT_EQ(pixel(chart.image, chart.at(30.5, text_mid)), bgr(modality_colour(cache::Modality::Text)));
  EXPECT_EQ(pixel(chart.image, chart.at(30.5, image_mid)), bgr(modality_colour(cache::Modality::Image)));
  EXPECT_EQ(pixel(chart.image, chart.at(30.5, generated_mid)), bgr(modality_colour(cache::Modality::Generated)));
}

TEST_F(TraceRender, TracesWithoutEvictionsOrStepsSayWhy) {
  Trace full = trace;
  full.events.clear();
  full.steps.clear();
  EXPECT_THROW(render_heatmap(full, {}), Error);
  EXPECT_THROW(render_modality_chart(full), Error);
}

}  // namespace
}  // namespace trimvl::app
