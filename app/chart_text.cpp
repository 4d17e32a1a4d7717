#include "app/chart_text.h"

namespace trimvl::app::chart {

cv::Size text_size(const std::string& s, double scale, int font) {
  int baseline = 0;
  return cv::getTextSize(s, font, scale, 1, &baseline);
}

void text(cv::Mat& image, const std::string& s, cv::Point at, double scale, const cv::Scalar& colour, Align align,
          int font) {
  const cv::Size size = text_size(s, scale, font);
  int x = at.x;
  if (align == Align::Centre) x -= size.width / 2;
  if (align == Align::Right) x -= size.width;
  cv::putText(image, s, {x, at.y + size.height / 2}, font, scale, colour, 1, cv::LINE_AA);
}

void vertical_text(cv::Mat& image, const std::string& s, cv::Point centre, double scale, const cv::Scalar& colour,
                   const cv::Scalar& background) {
  const cv::Size size = text_size(s, scale);
  cv::Mat strip(size.height + 10, size.width + 4, image.type(), background);
  cv::putText(strip, s, {2, size.height + 4}, kFont, scale, colour, 1, cv::LINE_AA);
  cv::Mat turned;
  cv::rotate(strip, turned, cv::ROTATE_90_COUNTERCLOCKWISE);
  const cv::Rect where(centre.x - turned.cols / 2, centre.y - turned.rows / 2, turned.cols, turned.rows);
  const cv::Rect clipped = where & cv::Rect(0, 0, image.cols, image.rows);
  turned(cv::Rect(clipped.x - where.x, clipped.y - where.y, clipped.width, clipped.height)).copyTo(image(clipped));
}

}  // namespace trimvl::app::chart
