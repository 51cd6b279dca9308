#include "video/flow.h"

#include <opencv2/imgproc.hpp>

#include <stdexcept>

namespace cg::video {

namespace {

int dis_preset(FlowPreset p) {
  switch (p) {
    case FlowPreset::kUltrafast: return cv::DISOpticalFlow::PRESET_ULTRAFAST;
    case FlowPreset::kFast: return cv::DISOpticalFlow::PRESET_FAST;
    case FlowPreset::kMedium: return cv::DISOpticalFlow::PRESET_MEDIUM;
  }
  return cv::DISOpticalFlow::PRESET_MEDIUM;
}

void to_gray(const cv::Mat& in, cv::Mat& out) {
  if (in.channels() == 1)
    out = in;
  else
    cv::cvtColor(in, out, cv::COLOR_RGB2GRAY);
}

// Squared gradient magnitude of each flow component, summed: central differences inside, one-sided
// at the border.
cv::Mat flow_gradient_energy(const cv::Mat& flow) {
  cv::Mat dx, dy;
  cv::Sobel(flow, dx, CV_32F, 1, 0, 1, 0.5, 0, cv::BORDER_REPLICATE);
  cv::Sobel(flow, dy, CV_32F, 0, 1, 1, 0.5, 0, cv::BORDER_REPLICATE);
  cv::Mat energy(flow.size(), CV_32F);
  for (int y = 0; y < flow.rows; ++y) {
    const auto* gx = dx.ptr<cv::Vec2f>(y);
    const auto* gy = dy.ptr<cv::Vec2f>(y);
    auto* e = energy.ptr<float>(y);
    for (int x = 0; x < flow.cols; ++x)
      e[x] = gx[x][0] * gx[x][0] + gy[x][0] * gy[x][0] + gx[x][1] * gx[x][1] + gy[x][1] * gy[x][1];
  }
  return energy;
}

}  // namespace

FlowEstimator::FlowEstimator(FlowPreset preset) : dis_(cv::DISOpticalFlow::create(dis_preset(preset))) {}

cv::Mat FlowEstimator::operator()(const cv::Mat& from, const cv::Mat& to) {
  if (from.size() != to.size()) throw std::invalid_argument("flow between frames of different sizes");
  to_gray(from, from_gray_);
  to_gray(to, to_gray_);
  cv::Mat flow;
  dis_->calc(from_gray_, to_gray_, flow);
  return flow;
}

Warp::Warp(const cv::Mat& flow) : map_(flow.size(), CV_32FC2) {
  for (int y = 0; y < flow.rows; ++y) {
    const auto* f = flow.ptr<cv::Vec2f>(y);
    auto* m = map_.ptr<cv::Vec2f>(y);
    for (int x = 0; x < flow.cols; ++x) m[x] = {x + f[x][0], y + f[x][1]};
  }
}

cv::Mat Warp::operator()(const cv::Mat& image) const {
  cv::Mat out;
  cv::remap(image, out, map_, cv::noArray(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  return out;
}

cv::Mat visible_mask(const cv::Mat& forward, const cv::Mat& backward) {
  return visible_mask(forward, Warp(forward), backward);
}

cv::Mat visible_mask(const cv::Mat& forward, const Warp& along_forward, const cv::Mat& backward) {
  const cv::Mat back_at_target = along_forward(backward);  // B(x + F(x))
  const cv::Mat boundary = flow_gradient_energy(forward);
  cv::Mat mask(forward.size(), CV_8U);
  for (int y = 0; y < forward.rows; ++y) {
    const auto* f = forward.ptr<cv::Vec2f>(y);
    const auto* b = back_at_target.ptr<cv::Vec2f>(y);
    const auto* g = boundary.ptr<float>(y);
    auto* m = mask.ptr<uchar>(y);
    for (int x = 0; x < forward.cols; ++x) {
      const float f2 = f[x].dot(f[x]), b2 = b[x].dot(b[x]);
      const cv::Vec2f sum = f[x] + b[x];
      const bool inconsistent = sum.dot(sum) > 0.01f * (f2 + b2) + 0.5f;
      const bool on_boundary = g[x] > 0.01f * f2 + 0.002f;
      const float tx = x + f[x][0], ty = y + f[x][1];
      const bool outside = tx < 0 || ty < 0 || tx > forward.cols - 1 || ty > forward.rows - 1;
      m[x] = inconsistent || on_boundary || outside ? 0 : 1;
    }
  }
  return mask;
}

double masked_squared_error(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask) {
  if (a.size() != b.size() || a.size() != mask.size() || a.type() != CV_8UC3 || b.type() != CV_8UC3)
    throw std::invalid_argument("masked_squared_error: frames and mask must be 8-bit RGB of one size");
  double sum = 0;
  int64_t count = 0;
  for (int y = 0; y < a.rows; ++y) {
    const auto* pa = a.ptr<cv::Vec3b>(y);
    const auto* pb = b.ptr<cv::Vec3b>(y);
    const auto* m = mask.ptr<uchar>(y);
    for (int x = 0; x < a.cols; ++x) {
      if (!m[x]) continue;
      double d2 = 0;
      for (int c = 0; c < 3; ++c) {
        const double d = (pa[x][c] - pb[x][c]) / 255.0;
        d2 += d * d;
      }
      sum += d2;
      ++count;
    }
  }
  return count ? sum / static_cast<double>(count) : 0.0;
}

double FramePair::warping_error(const cv::Mat& a, const cv::Mat& b) const {
  return masked_squared_error(a, along_forward(b), visible);
}

FramePair frame_pair(FlowEstimator& flow, const cv::Mat& input_t, const cv::Mat& input_t1) {
  const cv::Mat forward = flow(input_t, input_t1), backward = flow(input_t1, input_t);
  const Warp along_forward(forward);
  const cv::Mat visible = visible_mask(forward, along_forward, backward);
  return {forward, backward, along_forward, visible};
}

}  // namespace cg::video
