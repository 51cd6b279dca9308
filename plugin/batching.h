// batch-size N > 1: N consecutive frames are translated in one forward pass, which pays on GPUs
// for small frames. parallel-frames P > 1: P passes (a frame each, or a batch each) run at once
// on worker threads (plugin/parallel.h), which pays on CPUs for small models.
//
// Each frame is copied on arrival into a buffer of the negotiated output pool (which is given
// N * P - 1 extra buffers) and held there, so upstream has its buffer back at once: cameras and
// hardware decoders with small pools never wait for a batch. A full batch is translated in place,
// on the streaming thread or (P > 1) on a worker, and pushed in order; with P > 1 the streaming
// thread pushes the passes done, oldest first, and waits for the oldest one only when P are in
// flight. Nothing may overtake the frames held or in flight: they go out before any serialized
// event or query (EOS, caps, segment, tags, drain), and when batching and parallel frames stop
// (bypass turned on, batch-size and parallel-frames 1) they go out before the next frame. A flush
// drops them. The latency query adds the N * P - 1 frames a frame may wait for: N - 1 for its
// batch to fill, then (P - 1) * N more until its pass is the oldest of P. Both need a known
// framerate to report that latency, and push mode to see EOS (in pull mode EOS is no event):
// otherwise frames go one by one.
//
// Batching keeps no state of its own: the frames live in the Stream, under its lock, and the
// passes in flight in Parallel. It runs on the streaming thread (buffers, serialized events and
// queries), except add_latency, which any thread may call.
#pragma once

#include "plugin/parallel.h"
#include "plugin/stream.h"

#include <gst/base/gstbasetransform.h>
#include <gst/video/gstvideofilter.h>

namespace cg::plugin {

// What Batching reads of the settings, copied for each call.
struct Plan {
  guint batch_size = 1;
  guint parallel_frames = 1;
  guint threads = 0;  // the threads property: 0 is every core
};

class Batching {
 public:
  // `parent` is the element's parent class, whose default vfuncs do QoS, output allocation and
  // the one-by-one path.
  Batching(GstBaseTransform* element, GstBaseTransformClass* parent, Stream& stream, Parallel& parallel)
      : element_(element), parent_(parent), stream_(stream), parallel_(parallel) {}

  // submit_input_buffer and generate_output of the element. Throw cg::Error (or
  // std::system_error when no worker thread starts); the frames held then are dropped.
  GstFlowReturn submit(gboolean is_discont, GstBuffer* input, const Plan& plan);
  GstFlowReturn generate_output(GstBuffer** output, const Plan& plan);

  // Translates and pushes what is held or in flight, before what must not overtake it. Throws
  // cg::Error.
  void flush(const Plan& plan);
  // After a flush (seek), what is held or in flight belongs to the old position.
  void discard() {
    stream_.drop_frames();
    parallel_.discard();
  }

  // The frames one pass takes for a batch-size property of `batch_size`: 1 when batching is not
  // possible (see usable), which is what the engine is to be warmed up for.
  guint effective_batch(guint batch_size) const { return usable(batch_size, stream_.framerate()); }

  // Adds the frames a frame may wait for to a latency query already answered upstream.
  void add_latency(GstQuery* query, const Plan& plan) const;
  // Gives the output pool room for the frames held and in flight, on top of what downstream
  // asked for.
  void make_room(GstQuery* query, const Plan& plan) const;

 private:
  guint usable(guint frames, Framerate rate) const;
  GstFlowReturn hold(BufferPtr input, size_t* held);
  void copy_into(GstBuffer* input, GstBuffer* output) const;
  void start_held(const Plan& plan);
  void translate_now(std::vector<BufferPtr> frames);
  void collect(size_t in_flight);
  void end_parallel();
  void drain(const Plan& plan);
  GstFlowReturn push_ready();

  GstBaseTransform* element_;
  GstBaseTransformClass* parent_;
  Stream& stream_;
  Parallel& parallel_;
};

}  // namespace cg::plugin
