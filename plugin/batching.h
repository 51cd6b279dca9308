// batch-size N > 1: N consecutive frames are translated in one forward pass, which pays on GPUs
// for small frames.
//
// Each frame is copied on arrival into a buffer of the negotiated output pool (which is given
// N - 1 extra buffers) and held there, so upstream has its buffer back at once: cameras and
// hardware decoders with small pools never wait for a batch. A full batch is translated in place
// and pushed in order. Nothing may overtake the frames held: a partial batch goes out before any
// serialized event or query (EOS, caps, segment, tags, drain), and when batching stops (bypass
// turned on, batch-size 1) the frames held go out before the next frame. The latency query adds
// the N - 1 frames held. Batching needs a known framerate to report that latency, and push mode
// to see EOS (in pull mode EOS is no event): otherwise frames go one by one.
//
// Batching keeps no state of its own: the frames live in the Stream, under its lock. It runs on
// the streaming thread (buffers, serialized events and queries), except add_latency, which any
// thread may call.
#pragma once

#include "plugin/stream.h"

#include <gst/base/gstbasetransform.h>
#include <gst/video/gstvideofilter.h>

namespace cg::plugin {

class Batching {
 public:
  // `parent` is the element's parent class, whose default vfuncs do QoS, output allocation and
  // the one-by-one path.
  Batching(GstBaseTransform* element, GstBaseTransformClass* parent, Stream& stream)
      : element_(element), parent_(parent), stream_(stream) {}

  // submit_input_buffer and generate_output of the element, for a batch-size property of
  // `batch_size`. Throw cg::Error; the frames held then are dropped.
  GstFlowReturn submit(gboolean is_discont, GstBuffer* input, guint batch_size);
  GstFlowReturn generate_output(GstBuffer** output);

  // Translates and pushes a partial batch, before what must not overtake it. Throws cg::Error.
  void flush();
  // After a flush (seek), what is held belongs to the old position.
  void discard() { stream_.drop_frames(); }

  // The frames one pass takes for a batch-size property of `batch_size`: 1 when batching is not
  // possible (see frames_per_batch), which is what the engine is to be warmed up for.
  guint effective_batch(guint batch_size) const { return frames_per_batch(batch_size, stream_.framerate()); }

  // Adds the frames held to a latency query already answered upstream.
  void add_latency(GstQuery* query, guint batch_size) const;
  // Gives the output pool room for the frames held, on top of what downstream asked for.
  void make_room(GstQuery* query, guint batch_size) const;

 private:
  guint frames_per_batch(guint batch_size, Framerate rate) const;
  GstFlowReturn hold(BufferPtr input, size_t* held);
  void copy_into(GstBuffer* input, GstBuffer* output) const;
  void translate_held();
  GstFlowReturn push_ready();

  GstBaseTransform* element_;
  GstBaseTransformClass* parent_;
  Stream& stream_;
};

}  // namespace cg::plugin
