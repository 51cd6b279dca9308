#include "plugin/batching.h"

#include "common/error.h"

#include <algorithm>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

namespace cg::plugin {

namespace {

// Each of P passes at once gets an equal share of the threads property, so that together they
// use what one pass would; 0 (the engine's own count) when passes run one at a time.
int threads_per_pass(const Plan& plan, guint passes) {
  if (passes <= 1) return 0;
  const guint total = plan.threads > 0 ? plan.threads : std::max(1u, std::thread::hardware_concurrency());
  return static_cast<int>(std::max(1u, total / passes));
}

}  // namespace

GstFlowReturn Batching::submit(gboolean is_discont, GstBuffer* input, const Plan& plan) {
  // The parent drops late frames (QoS) and leaves the rest in queued_buf.
  GstFlowReturn ret = parent_->submit_input_buffer(element_, is_discont, input);
  if (ret != GST_FLOW_OK || !element_->queued_buf) return ret;
  const Framerate rate = stream_.framerate();
  const guint n = usable(plan.batch_size, rate), passes = usable(plan.parallel_frames, rate);
  stream_.expect_batch(n);
  if ((n <= 1 && passes <= 1) || gst_base_transform_is_passthrough(element_)) {
    // Batching and parallel frames just stopped, or never started: what is held or in flight goes
    // out before this frame, since generate_output hands out translated frames before the
    // parent's queued_buf.
    drain(plan);
    return GST_FLOW_OK;
  }
  size_t held = 0;
  ret = hold(BufferPtr(std::exchange(element_->queued_buf, nullptr)), &held);
  if (ret != GST_FLOW_OK) return ret;
  if (element_->queued_buf)
    drain(plan);  // bypass came on meanwhile and the frame is back in queued_buf
  else if (held >= n)
    start_held(plan);
  return ret;
}

GstFlowReturn Batching::generate_output(GstBuffer** output, const Plan& plan) {
  // At most P - 1 passes stay in flight between two input frames: the one that follows makes P.
  const guint passes = usable(plan.parallel_frames, stream_.framerate());
  collect(passes - 1);
  if (BufferPtr ready = stream_.next_ready()) {
    *output = ready.release();
    return GST_FLOW_OK;
  }
  return parent_->generate_output(element_, output);
}

void Batching::flush(const Plan& plan) {
  drain(plan);
  push_ready();  // a failed push has been reported downstream's way: the event follows regardless
}

void Batching::add_latency(GstQuery* query, const Plan& plan) const {
  const Framerate rate = stream_.framerate();
  const guint waited = usable(plan.batch_size, rate) * usable(plan.parallel_frames, rate) - 1;
  if (waited == 0) return;
  gboolean live = FALSE;
  GstClockTime min = 0, max = GST_CLOCK_TIME_NONE;
  gst_query_parse_latency(query, &live, &min, &max);
  const GstClockTime added = gst_util_uint64_scale_int(GST_SECOND * waited, rate.d, rate.n);
  GST_DEBUG_OBJECT(element_, "holding %u frames adds %" GST_TIME_FORMAT " of latency", waited, GST_TIME_ARGS(added));
  gst_query_set_latency(query, live, min + added, GST_CLOCK_TIME_IS_VALID(max) ? max + added : max);
}

void Batching::make_room(GstQuery* query, const Plan& plan) const {
  const guint extra = plan.batch_size * plan.parallel_frames - 1;
  if (extra == 0 || gst_query_get_n_allocation_pools(query) == 0) return;
  GstBufferPool* pool = nullptr;
  guint size = 0, min = 0, max = 0;
  gst_query_parse_nth_allocation_pool(query, 0, &pool, &size, &min, &max);
  // Downstream may hold up to max - 1 buffers while the batches in flight need N * P at once.
  min += extra;
  if (max != 0) max = MAX(min, max > G_MAXUINT - extra ? G_MAXUINT : max + extra);
  gst_query_set_nth_allocation_pool(query, 0, pool, size, min, max);
  if (pool) gst_object_unref(pool);
}

// The latency of frames held or in flight cannot be reported without a framerate, and they could
// not be flushed in pull mode, where EOS is no event: frames then go one by one.
guint Batching::usable(guint frames, Framerate rate) const {
  const bool pull = GST_PAD_MODE(GST_BASE_TRANSFORM_SINK_PAD(element_)) == GST_PAD_MODE_PULL;
  return rate.n > 0 && !pull ? std::max(1u, frames) : 1;
}

// The copy carries the input's timestamps, flags and metas (prepare_output_buffer copies them).
// If bypass came on meanwhile the parent hands the input back instead: it returns to queued_buf
// for the parent to pass through, after what is held.
GstFlowReturn Batching::hold(BufferPtr input, size_t* held) {
  GstBuffer* out = nullptr;
  const GstFlowReturn ret = parent_->prepare_output_buffer(element_, input.get(), &out);
  if (ret == GST_FLOW_OK && out == input.get()) {
    element_->queued_buf = input.release();
    return GST_FLOW_OK;
  }
  BufferPtr output(out != input.get() ? out : nullptr);
  if (ret != GST_FLOW_OK) return ret;
  if (!output) throw cg::Error(cg::ErrorKind::kRuntime, "No output buffer for a held frame");
  copy_into(input.get(), output.get());
  input.reset();
  GST_BUFFER_FLAG_UNSET(output.get(), GST_BUFFER_FLAG_GAP);  // a translated frame is not neutral
  *held = stream_.hold(std::move(output));
  return GST_FLOW_OK;
}

void Batching::copy_into(GstBuffer* input, GstBuffer* output) const {
  static const char kFailed[] = "Could not copy a frame for its batch";
  GstVideoFilter* filter = GST_VIDEO_FILTER(element_);
  MappedFrame in(&filter->in_info, input, GST_MAP_READ, kFailed);
  MappedFrame out(&filter->out_info, output, GST_MAP_WRITE, kFailed);
  if (!gst_video_frame_copy(out.get(), in.get())) throw cg::Error(cg::ErrorKind::kRuntime, kFailed);
}

// The frames held as one pass: on a worker when passes run in parallel, else here, after the
// passes still in flight (parallel-frames just went down to 1), which are older.
void Batching::start_held(const Plan& plan) {
  std::vector<BufferPtr> frames = stream_.take_held();
  if (frames.empty()) return;
  for (BufferPtr& frame : frames) frame.reset(gst_buffer_make_writable(frame.release()));  // ours alone: a no-op
  const guint passes = usable(plan.parallel_frames, stream_.framerate());
  if (passes > 1) {
    parallel_.dispatch(std::move(frames), GST_VIDEO_FILTER(element_)->out_info, passes, threads_per_pass(plan, passes));
    return;
  }
  end_parallel();
  translate_now(std::move(frames));
}

// Passes run one at a time from now on: those in flight go out first, then the workers end.
void Batching::end_parallel() {
  collect(0);
  parallel_.stop();
}

// In place, in one forward pass; on failure the frames are dropped with `frames`.
void Batching::translate_now(std::vector<BufferPtr> frames) {
  const GstVideoInfo* info = &GST_VIDEO_FILTER(element_)->out_info;
  {
    std::deque<MappedFrame> mapped;  // a deque: MappedFrame cannot move
    std::vector<cg::FrameView> views;
    views.reserve(frames.size());
    for (BufferPtr& frame : frames) {
      mapped.emplace_back(info, frame.get(), GST_MAP_READWRITE, "Could not map a held frame for writing");
      views.push_back(mapped.back().view());
    }
    stream_.translate(views.data(), views.data(), views.size());
  }
  stream_.queue_ready(std::move(frames));
}

void Batching::collect(size_t in_flight) {
  std::vector<BufferPtr> frames = parallel_.collect(in_flight);
  if (!frames.empty()) stream_.queue_ready(std::move(frames));
}

void Batching::drain(const Plan& plan) {
  start_held(plan);
  if (usable(plan.parallel_frames, stream_.framerate()) > 1)
    collect(0);
  else
    end_parallel();
}

GstFlowReturn Batching::push_ready() {
  GstFlowReturn ret = GST_FLOW_OK;
  while (BufferPtr frame = stream_.next_ready())
    if (ret == GST_FLOW_OK) ret = gst_pad_push(GST_BASE_TRANSFORM_SRC_PAD(element_), frame.release());
  return ret;
}

}  // namespace cg::plugin
