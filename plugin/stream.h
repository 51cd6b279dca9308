// The stream state: what exists between the element's start() (and set_info) and stop(): the
// engine, the frames held for a batch and those translated and waiting to be pushed, the input
// framerate, and the statistics.
//
// Locking rule: every member is touched only inside Stream's methods, under mutex_, and only to
// copy or move values in or out. mutex_ is never held while the engine runs, a buffer is pushed
// or released, or GStreamer is called, so no other lock is ever taken under it and it can be part
// of no deadlock; a frame's forward pass does not block the statistics, the latency query or a
// model swap.
#pragma once

#include "engine/engine.h"
#include "plugin/boundary.h"
#include "plugin/temporal.h"

#include <gst/gst.h>

#include <deque>
#include <memory>
#include <mutex>
#include <vector>

namespace cg::plugin {

struct Statistics {
  guint64 frames = 0;
  double total_ms = 0.0;
};

// The frames a stream expects, for the engine's warm-up.
struct FrameShape {
  int width = 0;
  int height = 0;
  guint batch = 1;
};

// A forward pass done, waiting for finish().
struct Pass {
  std::shared_ptr<cg::Engine> engine;  // the one that made the frames
  TemporalSettings temporal;
  KeptInputs inputs;
  double ms = 0.0;
};

struct Framerate {
  gint n = 0;  // 0: unknown or variable
  gint d = 1;
};

class Stream {
 public:
  // `owner` only names the element in the debug log.
  explicit Stream(GstElement* owner) : owner_(owner) {}

  // A new stream with `engine`, no frames and zero statistics (those of the last run stay
  // readable after stop()).
  void start(std::shared_ptr<cg::Engine> engine);
  // Forgets the engine, the frames and the framerate: whatever a reload finishes later is dropped.
  void stop();
  // Swaps in a reloaded engine, warmed up for the stream's frames first; false (and the engine
  // dropped) when the stream was stopped meanwhile. Throws cg::Error when the warm-up fails.
  bool replace_engine(std::shared_ptr<cg::Engine> engine);
  // Remembers the frames to expect and warms the current engine up for them (see
  // Engine::warm_up: work on CUDA only). Throws cg::Error.
  void warm_up(FrameShape shape);
  // The same for another batch of the frames already expected: batch-size changed while playing,
  // or batching stopped (a variable framerate, pull mode). Short batches are padded to the batch
  // the engine was warmed up for, so it must be the one that runs. Nothing before set_info.
  void expect_batch(guint batch);

  // Translates n frames in one forward pass with the current engine and counts them. The engine
  // may be swapped meanwhile: this pass finishes on the old one. Throws cg::Error.
  void translate(const cg::FrameView* in, const cg::FrameView* out, size_t n) {
    Pass pass = infer(in, out, n, 0);
    finish(pass, out, n);
  }
  // translate() in two steps, for frames in parallel. infer(), on any thread and on several at
  // once, runs the forward pass on `threads` CPU threads (0: the engine's) and keeps what the
  // temporal filter needs; finish(), on the streaming thread and in output order, blends the
  // outputs with the temporal filter and counts them. Both throw cg::Error.
  Pass infer(const cg::FrameView* in, const cg::FrameView* out, size_t n, int threads);
  void finish(Pass& pass, const cg::FrameView* out, size_t n);

  // temporal and temporal-strength, for the passes that start next (streaming thread).
  void set_temporal(TemporalSettings settings);
  // The next frame starts the temporal filter afresh: a seek, a flush, a discontinuity, bypass.
  // Any thread; start and a model swap do it themselves.
  void reset_temporal() { temporal_.request_reset(); }

  void set_framerate(Framerate rate);
  Framerate framerate() const;
  Statistics statistics() const;

  // The frames of a batch, oldest first. hold() returns how many are held now.
  size_t hold(BufferPtr frame);
  std::vector<BufferPtr> take_held();
  void queue_ready(std::vector<BufferPtr> frames);
  BufferPtr next_ready();  // null when none
  void drop_frames();

 private:
  GstElement* owner_;
  mutable std::mutex mutex_;
  std::shared_ptr<cg::Engine> engine_;
  std::deque<BufferPtr> held_;
  std::deque<BufferPtr> ready_;
  Framerate framerate_;
  FrameShape shape_;
  Statistics statistics_;
  TemporalSettings temporal_settings_;
  Temporal temporal_;  // the streaming thread's alone (finish()), outside mutex_: see plugin/temporal.h
};

}  // namespace cg::plugin
