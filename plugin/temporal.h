// temporal=flow: the element's side of the temporal filter (video/temporal-filter.h). A pass
// keeps its input frames before the engine overwrites them (frames are translated in place), then
// each output is blended with the one before, in output order.
//
// Threading rule: keep() is a pure function that any thread may run (parallel frames keep their
// inputs on their workers). The filter itself is touched only on the streaming thread, by
// blend(), once per pass in output order, so with parallel-frames the blend runs after the
// parallel step, as if the frames had been translated one by one. Any thread may ask for a reset
// (a model swap on the reloader's thread, a flush, new caps); the request is an atomic flag that
// the streaming thread acts on before its next blend, so no lock is held across the flow
// computation.
#pragma once

#include "engine/engine.h"
#include "video/temporal-filter.h"

#include <atomic>
#include <memory>
#include <vector>

namespace cg::plugin {

enum class TemporalMode { kOff, kFlow };  // the element's enum values: new ones go at the end

struct TemporalSettings {
  TemporalMode mode = TemporalMode::kOff;
  double strength = 0.5;  // chosen by measurement: see the README's "Temporal stability"
};

// The inputs a pass kept for the filter; empty when the filter was off.
using KeptInputs = std::vector<cv::Mat>;

class Temporal {
 public:
  void request_reset() { reset_.store(true); }

  // Before the engine's pass over `in`: copies of the input frames when the filter is on.
  static KeptInputs keep(const cg::FrameView* in, size_t n, const TemporalSettings& s);
  // After it: blends `out` frame by frame, in order, with the inputs keep() returned for the same
  // settings. With the filter off it only makes the next blend start afresh. `engine` is the one
  // that made `out`: frames of another model are never blended with this one's (a reset asked
  // for by a swap could otherwise be taken by a frame still running on the old engine).
  void blend(const cg::FrameView* out, size_t n, const KeptInputs& inputs, const TemporalSettings& s,
             const std::shared_ptr<cg::Engine>& engine);

 private:
  video::TemporalFilter filter_;
  // Compared, never used: the engine of the frame carried. Weak, so that a new engine allocated
  // where a freed one was is never taken for it.
  std::weak_ptr<const cg::Engine> engine_;
  std::atomic<bool> reset_{true};
};

// The R, G and B bytes of a frame as an 8-bit RGB image (a copy), and back into the frame; the
// other byte of a 4-byte pixel (alpha, padding) is never touched.
cv::Mat rgb_of(const cg::FrameView& f);
void put_rgb(const cv::Mat& rgb, const cg::FrameView& f);

}  // namespace cg::plugin
