#pragma once
// Text on OpenCV charts (media builds): the one way trace renderings and eval charts place labels.
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

namespace trimvl::app::chart {

enum class Align { Left, Centre, Right };

inline constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;

cv::Size text_size(const std::string& s, double scale, int font = kFont);
// `at.y` is the text's vertical middle; `at.x` its left edge, centre or right edge.
void text(cv::Mat& image, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour,
          Align align = Align::Left, int font = kFont);
// A y-axis title: the text turned a quarter counter-clockwise on `background`, centred on `centre`,
// clipped to the image.
void vertical_text(cv::Mat& image, const std::string& s, cv::Point centre, double scale, const cv::Scalar& colour,
                   const cv::Scalar& background);

}  // namespace trimvl::app::chart
