// The element's temporal filter (temporal=flow): each translated frame is pulled towards the
// previous output, carried along the input's own motion, wherever the input says the pixel is the
// same surface as before:
//   O_t = P_t + strength * m_t * (W(O_{t-1}) - P_t)
// with P_t the generator's output, W the backward warp along the flow from frame t to frame t-1
// of the INPUT, and m_t = visible * exp(-50 |I_t - W(I_{t-1})|^2) (RGB in [0, 1]): 0 where the
// pixel is occluded or changed its appearance, 1 where the input is unchanged. Causal: it needs
// only the previous frame, so it adds no latency. Runs on the CPU: the blend at the frame's size,
// the flow at most kFlowSide pixels on the longer side (scaled back up), so that big frames cost
// little more than small ones.
#pragma once

#include "video/flow.h"

#include <opencv2/core.hpp>

namespace cg::video {

class TemporalFilter {
 public:
  // More than this share of occluded pixels is a scene cut: the frame starts afresh.
  static constexpr double kSceneCut = 0.5;
  // The longer side of the frames the flow is computed on: DIS at its fast preset takes a few
  // milliseconds there, and the motion of a video rarely needs finer detail to follow.
  static constexpr int kFlowSide = 320;

  explicit TemporalFilter(FlowPreset preset = FlowPreset::kFast) : flow_(preset) {}

  // Blends `output` (8-bit RGB, the generator's translation of `input`, same size) in place and
  // remembers both for the next frame. Returns false where nothing was blended: the first frame
  // after a reset, a frame of another size than the last, a scene cut, or strength 0.
  bool apply(const cv::Mat& input, cv::Mat& output, double strength);
  // Forgets the previous frame (a seek, a flush, new caps, another model).
  void reset();

 private:
  // The flow from `from` to `to`, computed at most kFlowSide on the longer side.
  cv::Mat flow(const cv::Mat& from, const cv::Mat& to);

  FlowEstimator flow_;
  cv::Mat previous_input_, previous_output_;
};

}  // namespace cg::video
