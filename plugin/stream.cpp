#include "plugin/stream.h"

#include "common/error.h"

#include <chrono>
#include <utility>

namespace cg::plugin {

void Stream::start(std::shared_ptr<cg::Engine> engine) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::swap(engine_, engine);  // an old engine goes when `engine` does, after the unlock
  statistics_ = Statistics();
  temporal_.request_reset();
}

void Stream::stop() {
  std::shared_ptr<cg::Engine> engine;
  std::deque<BufferPtr> held, ready;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::swap(engine_, engine);
    std::swap(held_, held);
    std::swap(ready_, ready);
    framerate_ = Framerate();
    shape_ = FrameShape();
  }
}

bool Stream::replace_engine(std::shared_ptr<cg::Engine> engine) {
  FrameShape shape;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shape = shape_;
  }
  engine->warm_up(shape.width, shape.height, shape.batch);  // on the reloader's thread: no frame waits
  std::lock_guard<std::mutex> lock(mutex_);
  if (!engine_) return false;
  std::swap(engine_, engine);  // the filter sees the new engine and starts afresh (plugin/temporal.h)
  return true;
}

void Stream::warm_up(FrameShape shape) {
  std::shared_ptr<cg::Engine> engine;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shape_ = shape;
    engine = engine_;
  }
  if (engine) engine->warm_up(shape.width, shape.height, shape.batch);
}

void Stream::expect_batch(guint batch) {
  FrameShape shape;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (shape_.width == 0 || shape_.batch == batch) return;
    shape_.batch = batch;
    shape = shape_;
  }
  warm_up(shape);
}

Pass Stream::infer(const cg::FrameView* in, const cg::FrameView* out, size_t n, int threads) {
  Pass pass;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pass.engine = engine_;
    pass.temporal = temporal_settings_;
  }
  if (!pass.engine) throw cg::Error(cg::ErrorKind::kRuntime, "No model loaded");
  const auto t0 = std::chrono::steady_clock::now();
  pass.inputs = Temporal::keep(in, n, pass.temporal);  // before an in-place pass overwrites the inputs
  pass.engine->process_batch(in, out, n, threads);
  pass.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return pass;
}

void Stream::finish(Pass& pass, const cg::FrameView* out, size_t n) {
  const auto t0 = std::chrono::steady_clock::now();
  temporal_.blend(out, n, pass.inputs, pass.temporal, pass.engine);
  const double ms = pass.ms + std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    statistics_.frames += n;
    statistics_.total_ms += ms;
  }
  GST_LOG_OBJECT(owner_, "%u frame(s) of %dx%d in %.2f ms", static_cast<guint>(n), out[0].width, out[0].height, ms);
}

void Stream::set_temporal(TemporalSettings settings) {
  std::lock_guard<std::mutex> lock(mutex_);
  temporal_settings_ = settings;
}

void Stream::set_framerate(Framerate rate) {
  std::lock_guard<std::mutex> lock(mutex_);
  framerate_ = rate;
}

Framerate Stream::framerate() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return framerate_;
}

Statistics Stream::statistics() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return statistics_;
}

size_t Stream::hold(BufferPtr frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  held_.push_back(std::move(frame));
  return held_.size();
}

std::vector<BufferPtr> Stream::take_held() {
  std::vector<BufferPtr> frames;
  std::lock_guard<std::mutex> lock(mutex_);
  frames.reserve(held_.size());
  for (auto& frame : held_) frames.push_back(std::move(frame));
  held_.clear();
  return frames;
}

void Stream::queue_ready(std::vector<BufferPtr> frames) {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& frame : frames) ready_.push_back(std::move(frame));
}

BufferPtr Stream::next_ready() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (ready_.empty()) return nullptr;
  BufferPtr frame = std::move(ready_.front());
  ready_.pop_front();
  return frame;
}

void Stream::drop_frames() {
  std::deque<BufferPtr> held, ready;
  std::lock_guard<std::mutex> lock(mutex_);
  std::swap(held_, held);
  std::swap(ready_, ready);
}

}  // namespace cg::plugin
