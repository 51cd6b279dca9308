// Optical flow between video frames and what it says about temporal stability: the warping
// error of Lai et al. 2018 ("Learning Blind Video Temporal Consistency", ECCV) with the
// occlusion test of Ruder et al. 2016. GStreamer- and LibTorch-free: cg-trainer's flicker
// measurement and the element's temporal filter both use it.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

namespace cg::video {

// OpenCV's DIS flow (Kroeger et al. 2016): kMedium for measuring, kFast or kUltrafast where a
// frame's budget is a few milliseconds.
enum class FlowPreset { kUltrafast, kFast, kMedium };

class FlowEstimator {
 public:
  explicit FlowEstimator(FlowPreset preset);
  // The flow F from `from` to `to` (8-bit RGB or gray of one size): CV_32FC2, F(x) in pixels, so
  // that the pixel at x in `from` is at x + F(x) in `to`.
  cv::Mat operator()(const cv::Mat& from, const cv::Mat& to);

 private:
  cv::Ptr<cv::DISOpticalFlow> dis_;
  cv::Mat from_gray_, to_gray_;
};

// The backward warp along one flow, built once and applied to every image the flow carries (the
// previous input and output, each video measured): `image` sampled at x + flow(x) (bilinear,
// border replicated), the frame `flow` points into brought back onto the grid it points from.
class Warp {
 public:
  explicit Warp(const cv::Mat& flow);
  cv::Mat operator()(const cv::Mat& image) const;

 private:
  cv::Mat map_;  // x + flow(x), for cv::remap
};

inline cv::Mat warp(const cv::Mat& image, const cv::Mat& flow) { return Warp(flow)(image); }

// 1 (CV_8U) where the pixel at x is seen in both frames, 0 where it is occluded: where the
// forward flow F and the backward flow B at x + F(x) do not cancel,
// |F + B(x+F)|^2 > 0.01 (|F|^2 + |B(x+F)|^2) + 0.5, on motion boundaries,
// |grad F_u|^2 + |grad F_v|^2 > 0.01 |F|^2 + 0.002, and where x + F(x) leaves the frame.
cv::Mat visible_mask(const cv::Mat& forward, const cv::Mat& backward);
// The same with the warp along `forward` already built.
cv::Mat visible_mask(const cv::Mat& forward, const Warp& along_forward, const cv::Mat& backward);

// E = sum M |a - b|^2 / sum M over RGB in [0, 1] (the squared distance summed over the three
// channels), for 8-bit RGB a and b and a visibility mask M; 0 when M is empty.
double masked_squared_error(const cv::Mat& a, const cv::Mat& b, const cv::Mat& mask);

// One pair of consecutive frames t, t+1 of a video, with the flows of the input video between
// them (which decides what "the same surface" is for every video compared against it).
struct FramePair {
  cv::Mat forward;     // input t -> t+1
  cv::Mat backward;    // input t+1 -> t
  Warp along_forward;  // brings frame t+1 of any video onto frame t's grid
  cv::Mat visible;     // visible_mask(forward, backward)

  // The warping error of frames a (at t) and b (at t+1) of any video of the input's size:
  // masked_squared_error(a, along_forward(b), visible).
  double warping_error(const cv::Mat& a, const cv::Mat& b) const;
};

FramePair frame_pair(FlowEstimator& flow, const cv::Mat& input_t, const cv::Mat& input_t1);

}  // namespace cg::video
