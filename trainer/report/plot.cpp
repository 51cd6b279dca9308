#include "trainer/report/plot.h"

#include "trainer/data/image-io.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

namespace cg {

namespace {

// The layout, in pixels: the plot inside margins for the axis labels and the legend.
constexpr int kWidth = 960, kHeight = 540, kLeft = 70, kRight = 150, kTop = 40, kBottom = 50;
constexpr int kPlotWidth = kWidth - kLeft - kRight, kPlotHeight = kHeight - kTop - kBottom;
constexpr auto kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kAxis(0, 0, 0), kGrid(225, 225, 225);

// Places x (linear) and y (log scale over whole decades) in the plot.
struct PlotScale {
  double x0 = 0, x1 = 1;
  double y0 = 0, y1 = 1;  // decades: log10 of the values

  int px(double x) const { return kLeft + static_cast<int>(std::lround((x - x0) / (x1 - x0) * kPlotWidth)); }
  int py(double v) const {
    const double l = std::log10(std::max(v, std::pow(10.0, y0)));
    return kTop + static_cast<int>(std::lround((y1 - l) / (y1 - y0) * kPlotHeight));
  }
};

// The decades that hold every positive value, and x from 0 to the largest.
PlotScale plot_scale(const std::vector<Series>& series) {
  double lo = 1e300, hi = -1e300, x_max = 1;
  for (const auto& s : series)
    for (const auto& [x, y] : s.points) {
      x_max = std::max(x_max, x);
      if (y > 0) {
        lo = std::min(lo, y);
        hi = std::max(hi, y);
      }
    }
  if (lo > hi) lo = 0.01, hi = 10;
  PlotScale s;
  s.y0 = std::floor(std::log10(lo));
  s.y1 = std::max(s.y0 + 1, std::ceil(std::log10(hi)));
  s.x1 = x_max;
  return s;
}

void draw_axes(cv::Mat& img, const PlotScale& s, const std::string& x_label) {
  for (double d = s.y0; d <= s.y1 + 1e-9; d += 1) {
    for (int k = 1; k < 10 && d + std::log10(k) <= s.y1 + 1e-9; ++k)
      cv::line(img, {kLeft, s.py(k * std::pow(10, d))}, {kLeft + kPlotWidth, s.py(k * std::pow(10, d))}, kGrid);
    std::ostringstream l;
    l << std::pow(10, d);
    cv::putText(img, l.str(), {8, s.py(std::pow(10, d)) + 5}, kFont, 0.45, kAxis, 1, cv::LINE_AA);
  }
  for (int k = 0; k <= 5; ++k) {
    const double x = s.x0 + (s.x1 - s.x0) * k / 5;
    cv::line(img, {s.px(x), kTop}, {s.px(x), kTop + kPlotHeight}, kGrid);
    std::ostringstream l;
    l << static_cast<int64_t>(std::lround(x));
    cv::putText(img, l.str(), {s.px(x) - 15, kTop + kPlotHeight + 20}, kFont, 0.45, kAxis, 1, cv::LINE_AA);
  }
  cv::putText(img, x_label, {kLeft + kPlotWidth / 2 - 40, kHeight - 8}, kFont, 0.5, kAxis, 1, cv::LINE_AA);
  cv::rectangle(img, {kLeft, kTop}, {kLeft + kPlotWidth, kTop + kPlotHeight}, kAxis);
}

// One line per series, skipping what a log scale cannot show, and the legend beside the plot.
void draw_series(cv::Mat& img, const PlotScale& s, const std::vector<Series>& series) {
  static const cv::Scalar palette[8] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
  for (size_t i = 0; i < series.size(); ++i) {
    const cv::Scalar& colour = palette[i % 8];
    std::vector<cv::Point> pts;
    for (const auto& [x, y] : series[i].points)
      if (y > 0) pts.push_back({s.px(x), s.py(y)});
    if (pts.size() == 1) cv::circle(img, pts[0], 2, colour, cv::FILLED, cv::LINE_AA);
    if (pts.size() > 1) cv::polylines(img, pts, false, colour, 1, cv::LINE_AA);
    const int ly = kTop + 15 + 22 * static_cast<int>(i);
    cv::line(img, {kLeft + kPlotWidth + 12, ly - 4}, {kLeft + kPlotWidth + 40, ly - 4}, colour, 2, cv::LINE_AA);
    cv::putText(img, series[i].name, {kLeft + kPlotWidth + 46, ly}, kFont, 0.5, kAxis, 1, cv::LINE_AA);
  }
}

}  // namespace

void draw_log_plot(const std::string& png, const std::string& title, const std::string& x_label,
                   const std::vector<Series>& series) {
  cv::Mat img(kHeight, kWidth, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, title, {kLeft, 25}, kFont, 0.6, kAxis, 1, cv::LINE_AA);
  const bool any = std::any_of(series.begin(), series.end(), [](const Series& s) { return !s.points.empty(); });
  if (any) {
    const PlotScale scale = plot_scale(series);
    draw_axes(img, scale, x_label);
    draw_series(img, scale, series);
  }
  write_rgb(png, img);
}

}  // namespace cg
