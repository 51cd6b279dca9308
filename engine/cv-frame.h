// The engine over OpenCV images, for the programs that read image files (cg-trainer test and
// eval): the same translation, byte for byte, as the element gives the same pixels.
#pragma once

#include "engine/engine.h"

#include <opencv2/core.hpp>

namespace cg {

// An 8-bit, 3-channel RGB image as the engine's frame (no copy).
inline FrameView frame_of(const cv::Mat& rgb) {
  FrameView f;
  f.data = const_cast<uint8_t*>(rgb.ptr<uint8_t>());
  f.width = rgb.cols;
  f.height = rgb.rows;
  f.row_stride = static_cast<int>(rgb.step[0]);
  return f;
}

// Translates an RGB8 image at its own size. Throws Error.
inline cv::Mat translate_image(Engine& engine, const cv::Mat& rgb) {
  CV_Assert(rgb.type() == CV_8UC3);
  cv::Mat out(rgb.size(), CV_8UC3);
  engine.process(frame_of(rgb), frame_of(out));
  return out;
}

}  // namespace cg
