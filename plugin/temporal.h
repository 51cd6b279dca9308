// temporal=flow: the element's side of the temporal filter (video/temporal-filter.h). It keeps
// the input frames of a pass before the engine overwrites them (batches are translated in place),
// then blends each output in order.
//
// Threading rule: the filter and the kept frames are touched only on the streaming thread, inside
// Stream::translate. Any thread may ask for a reset (a model swap on the reloader's thread, a
// flush, new caps); the request is an atomic flag that the streaming thread acts on before its
// next frame, so no lock is held across the flow computation.
#pragma once

#include "engine/engine.h"
#include "video/temporal-filter.h"

#include <atomic>
#include <vector>

namespace cg::plugin {

enum class TemporalMode { kOff, kFlow };  // the element's enum values: new ones go at the end

struct TemporalSettings {
  TemporalMode mode = TemporalMode::kOff;
  double strength = 0.5;  // chosen by measurement: see the README's "Temporal stability"
};

class Temporal {
 public:
  void request_reset() { reset_.store(true); }

  // Before the engine's pass over `in`: keeps the input frames when the filter is on.
  void before(const cg::FrameView* in, size_t n, const TemporalSettings& s);
  // After it: blends `out` frame by frame, in order. A no-op when the filter is off. `engine` is
  // the one that made `out`: frames of another model are never blended with this one's (a reset
  // asked for by a swap could otherwise be taken by a frame still running on the old engine).
  void after(const cg::FrameView* out, size_t n, const TemporalSettings& s, const cg::Engine* engine);

 private:
  video::TemporalFilter filter_;
  std::vector<cv::Mat> inputs_;
  const cg::Engine* engine_ = nullptr;  // compared, never used: the engine of the frame carried
  std::atomic<bool> reset_{true};
};

// The R, G and B bytes of a frame as an 8-bit RGB image (a copy), and back into the frame; the
// other byte of a 4-byte pixel (alpha, padding) is never touched.
cv::Mat rgb_of(const cg::FrameView& f);
void put_rgb(const cv::Mat& rgb, const cg::FrameView& f);

}  // namespace cg::plugin
