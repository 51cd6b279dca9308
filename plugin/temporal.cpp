#include "plugin/temporal.h"

namespace cg::plugin {

cv::Mat rgb_of(const cg::FrameView& f) {
  cv::Mat rgb(f.height, f.width, CV_8UC3);
  for (int y = 0; y < f.height; ++y) {
    const uint8_t* src = f.data + static_cast<ptrdiff_t>(y) * f.row_stride;
    auto* dst = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < f.width; ++x, src += f.pixel_stride) dst[x] = {src[f.r], src[f.g], src[f.b]};
  }
  return rgb;
}

void put_rgb(const cv::Mat& rgb, const cg::FrameView& f) {
  for (int y = 0; y < f.height; ++y) {
    uint8_t* dst = f.data + static_cast<ptrdiff_t>(y) * f.row_stride;
    const auto* src = rgb.ptr<cv::Vec3b>(y);
    for (int x = 0; x < f.width; ++x, dst += f.pixel_stride) {
      dst[f.r] = src[x][0];
      dst[f.g] = src[x][1];
      dst[f.b] = src[x][2];
    }
  }
}

KeptInputs Temporal::keep(const cg::FrameView* in, size_t n, const TemporalSettings& s) {
  KeptInputs inputs;
  if (s.mode == TemporalMode::kOff) return inputs;
  for (size_t i = 0; i < n; ++i) inputs.push_back(rgb_of(in[i]));
  return inputs;
}

void Temporal::blend(const cg::FrameView* out, size_t n, const KeptInputs& inputs, const TemporalSettings& s,
                     const std::shared_ptr<cg::Engine>& engine) {
  if (s.mode == TemporalMode::kOff || inputs.size() != n) {
    // Frames translated meanwhile would make the kept one stale.
    reset_.store(true);
    return;
  }
  const bool same_engine = !engine_.owner_before(engine) && !engine.owner_before(engine_);
  if (reset_.exchange(false) || !same_engine) filter_.reset();
  engine_ = engine;
  for (size_t i = 0; i < n; ++i) {
    cv::Mat output = rgb_of(out[i]);
    if (filter_.apply(inputs[i], output, s.strength)) put_rgb(output, out[i]);
  }
}

}  // namespace cg::plugin
