#include "video/temporal-filter.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cg::video {

cv::Mat TemporalFilter::flow(const cv::Mat& from, const cv::Mat& to) {
  const int side = std::max(from.cols, from.rows);
  if (side <= kFlowSide) return flow_(from, to);
  const double scale = static_cast<double>(kFlowSide) / side;
  const cv::Size small(std::max(1, static_cast<int>(std::lround(from.cols * scale))),
                       std::max(1, static_cast<int>(std::lround(from.rows * scale))));
  cv::Mat a, b, f;
  cv::resize(from, a, small, 0, 0, cv::INTER_AREA);
  cv::resize(to, b, small, 0, 0, cv::INTER_AREA);
  cv::resize(flow_(a, b), f, from.size(), 0, 0, cv::INTER_LINEAR);
  // Displacements in pixels of the full frame.
  f.forEach<cv::Vec2f>([&](cv::Vec2f& v, const int*) {
    v[0] *= static_cast<float>(from.cols) / small.width;
    v[1] *= static_cast<float>(from.rows) / small.height;
  });
  return f;
}

void TemporalFilter::reset() {
  previous_input_.release();
  previous_output_.release();
}

bool TemporalFilter::apply(const cv::Mat& input, cv::Mat& output, double strength) {
  if (input.type() != CV_8UC3 || output.type() != CV_8UC3 || input.size() != output.size())
    throw std::invalid_argument("temporal filter: input and output must be 8-bit RGB of one size");
  // Never reads a previous frame of another size: the caps changed without a reset.
  const bool follows = !previous_input_.empty() && previous_input_.size() == input.size() && strength > 0;
  bool blended = false;
  if (follows) {
    // The flow from this frame back to the previous one samples the previous frames on this grid.
    const cv::Mat back = flow(input, previous_input_), ahead = flow(previous_input_, input);
    const Warp carry(back);
    const cv::Mat visible = visible_mask(back, carry, ahead);
    if (cv::countNonZero(visible) >= (1.0 - kSceneCut) * static_cast<double>(visible.total())) {
      const cv::Mat carried_input = carry(previous_input_), carried_output = carry(previous_output_);
      const float beta = static_cast<float>(strength);
      for (int y = 0; y < input.rows; ++y) {
        const auto* in = input.ptr<cv::Vec3b>(y);
        const auto* was = carried_input.ptr<cv::Vec3b>(y);
        const auto* prev = carried_output.ptr<cv::Vec3b>(y);
        const auto* vis = visible.ptr<uchar>(y);
        auto* out = output.ptr<cv::Vec3b>(y);
        for (int x = 0; x < input.cols; ++x) {
          if (!vis[x]) continue;
          float d2 = 0;
          for (int c = 0; c < 3; ++c) {
            const float d = (in[x][c] - was[x][c]) * (1.0f / 255);
            d2 += d * d;
          }
          const float w = beta * std::exp(-50.0f * d2);
          for (int c = 0; c < 3; ++c)
            out[x][c] = cv::saturate_cast<uchar>(out[x][c] + w * (static_cast<float>(prev[x][c]) - out[x][c]));
        }
      }
      blended = true;
    }
  }
  input.copyTo(previous_input_);
  output.copyTo(previous_output_);
  return blended;
}

}  // namespace cg::video
