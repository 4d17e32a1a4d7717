#pragma once
// Pictures of a retention trace (OpenCV; built only with TRIMVL_MEDIA).
//
// Retention heatmap: one row per (layer, kv-head) stream, grouped by layer; one column per stream
// position 0..seen-1 of the chosen eviction (binned when there are more than `max_width`). A token
// the event kept is coloured by its score (viridis over the shown rows' finite kept scores; +inf,
// a forced keep, takes the top colour); one it evicted is red; one the stream did not hold (never
// given to it, or evicted earlier) is dark. A modality band above the columns says where text,
// image, video and generated tokens sit. With a layer and a head, the rows are instead the events,
// in order: that one stream's retention history (each row normalised on its own).
//
// Modality chart: cached tokens by modality, stacked, over the recorded forwards, with the
// policy's retained budget (L·H_kv·M) when it has one.
//
// Images are 8-bit BGR (OpenCV's order). Each comes with where it drew, for tests and tools that
// map pixels back to tokens.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include <opencv2/core.hpp>

#include "app/trace/trace_file.h"

namespace trimvl::app {

struct HeatmapView {
  std::optional<int> layer, head;  // head needs layer
  std::optional<int64_t> event;    // default: the last
  int max_width = 2048;            // columns at most; more positions are binned
};

struct Heatmap {
  cv::Mat image;
  cv::Rect plot;                  // the cells
  cv::Rect band;                  // the modality band
  int64_t tokens_per_column = 1;  // positions binned into one column
  int column_width = 1;           // pixels per column
  std::vector<int> row_top;       // y of each row's first pixel
  int row_height = 1;

  // The pixel at the middle of the cell of `position` in row `row`.
  cv::Point cell(int row, int64_t position) const;
  // A pixel in the modality band above `position`.
  cv::Point band_at(int64_t position) const;
};

struct ModalityChart {
  cv::Mat image;
  cv::Rect plot;
  int64_t first_forward = 0, last_forward = 0;
  double max_tokens = 1;  // the top of the y axis

  // The x axis runs from first_forward to last_forward + 1: a step's state spans [forward, next
  // recorded forward), so forward f's is drawn between at(f, .) and at(f + 1, .).
  cv::Point at(double forward, double tokens) const;
};

// Colours (BGR), shared with tests and the legend.
cv::Scalar modality_colour(cache::Modality modality);
inline const cv::Scalar kEvictedColour{48, 48, 178};  // dim red
inline const cv::Scalar kAbsentColour{38, 32, 30};    // near black

// Throw InvalidInput for a layer, head or event out of range, and for a trace without evictions
// (no heatmap) or without steps (no chart).
Heatmap render_heatmap(const Trace& trace, const HeatmapView& view);
ModalityChart render_modality_chart(const Trace& trace);

// PNG-encodes, then writes atomically.
void write_png(const cv::Mat& image, const std::filesystem::path& path);

}  // namespace trimvl::app
