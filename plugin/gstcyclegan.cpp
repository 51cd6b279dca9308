/* cyclegan: a GstVideoFilter running a CycleGAN generator through the GStreamer-free engine.
 *
 *   gst-launch-1.0 videotestsrc ! videoconvert ! cyclegan model=G_A.pt ! videoconvert ! autovideosink
 *
 * The model is loaded in start(), so a missing or bad model fails the change to PAUSED with an
 * error message naming the file. Changing model, device, precision, threads or process-size while
 * running reloads the engine on a helper thread and swaps it in between two frames; if the load
 * fails, a warning is posted and the running engine stays.
 *
 * With batch-size N > 1, each frame is copied on arrival into a buffer of the negotiated output
 * pool (which gets N - 1 extra buffers), so upstream has its buffer back at once; N such frames are
 * translated in one forward pass, in place. The latency query adds the N - 1 frames held, and a
 * partial batch goes out before any serialized event or query. Batching needs a known framerate
 * to report that latency; with a variable one (0/1) frames are translated one by one. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugin/gstcyclegan.h"

#include "engine/engine.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

GST_DEBUG_CATEGORY_STATIC (gst_cyclegan_debug);
#define GST_CAT_DEFAULT gst_cyclegan_debug

#define DEFAULT_MODEL NULL
#define DEFAULT_DEVICE "auto"
#define DEFAULT_PRECISION cg::Precision::kFP32
#define DEFAULT_THREADS 0
#define DEFAULT_PROCESS_SIZE "native"
#define DEFAULT_BYPASS FALSE
#define DEFAULT_BATCH_SIZE 1
#define MAX_BATCH_SIZE 64

enum
{
  PROP_0,
  PROP_MODEL,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_THREADS,
  PROP_PROCESS_SIZE,
  PROP_BYPASS,
  PROP_BATCH_SIZE,
  PROP_FRAMES_PROCESSED,
  PROP_MEAN_INFERENCE_MS,
};

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }"

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE (VIDEO_FORMATS)));

/* Properties, guarded by the object lock. */
struct Settings
{
  std::string model;
  std::string device = DEFAULT_DEVICE;
  cg::Precision precision = DEFAULT_PRECISION;
  guint threads = DEFAULT_THREADS;
  std::string process_size = DEFAULT_PROCESS_SIZE;
  gboolean bypass = DEFAULT_BYPASS;
  guint batch_size = DEFAULT_BATCH_SIZE;
};

/* Stream state, reset in start() and stop(). */
struct State
{
  std::mutex engine_lock;       /* guards engine: taken per frame and by the swap */
  std::shared_ptr<cg::Engine> engine;
  std::mutex loader_lock;       /* guards loader */
  std::thread loader;
  std::atomic<guint64> generation{0};  /* the newest reload asked for */
  /* frames held for a batch and translated frames waiting to be pushed; streaming thread only */
  std::deque<GstBuffer *> held;
  std::deque<GstBuffer *> ready;
  /* under the object lock: the input framerate, for the latency of held frames */
  gint fps_n = 0;
  gint fps_d = 1;
  /* statistics, under the object lock */
  guint64 frames = 0;
  double total_ms = 0.0;
};

struct _GstCycleGan
{
  GstVideoFilter parent;
  Settings *settings;
  State *state;
};

#define gst_cyclegan_parent_class parent_class
G_DEFINE_TYPE (GstCycleGan, gst_cyclegan, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE (cyclegan, "cyclegan", GST_RANK_NONE, GST_TYPE_CYCLEGAN);

GType
gst_cyclegan_precision_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {(gint) cg::Precision::kFP32, "32-bit float", "fp32"},
    {(gint) cg::Precision::kFP16, "16-bit float (CUDA only)", "fp16"},
    {(gint) cg::Precision::kBF16, "bfloat16", "bf16"},
    {0, NULL, NULL},
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstCycleGanPrecision", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* "native", "model" or "WxH"; returns FALSE for anything else. */
static gboolean
parse_process_size (const std::string & s, cg::EngineOptions * o)
{
  o->process_width = o->process_height = 0;
  o->process_at_model_crop = false;
  if (s == "native")
    return TRUE;
  if (s == "model") {
    o->process_at_model_crop = true;
    return TRUE;
  }
  int w = 0, h = 0;
  char tail = 0;
  if (std::sscanf (s.c_str (), "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 16384 || h > 16384)
    return FALSE;
  o->process_width = w;
  o->process_height = h;
  return TRUE;
}

static cg::EngineOptions
engine_options (GstCycleGan * self)
{
  cg::EngineOptions o;
  GST_OBJECT_LOCK (self);
  o.model_path = self->settings->model;
  o.device = self->settings->device;
  o.precision = self->settings->precision;
  o.threads = (int) self->settings->threads;
  parse_process_size (self->settings->process_size, &o);
  GST_OBJECT_UNLOCK (self);
  return o;
}

static void
log_engine (GstCycleGan * self, const cg::Engine & engine)
{
  const auto &info = engine.info ();
  if (!info.fallback_note.empty ())
    GST_WARNING_OBJECT (self, "%s", info.fallback_note.c_str ());
  GST_INFO_OBJECT (self, "model %s (%s) on %s, %s", engine.options ().model_path.c_str (),
      info.architecture.c_str (), info.device.c_str (), info.precision.c_str ());
}

static void
join_loader (GstCycleGan * self)
{
  std::lock_guard<std::mutex> guard (self->state->loader_lock);
  if (self->state->loader.joinable ())
    self->state->loader.join ();
}

/* Builds a new engine from the current settings on a helper thread and swaps it in, unless a
 * newer reload was asked for meanwhile. The streaming thread never waits for the load. */
static void
start_reload (GstCycleGan * self)
{
  State *state = self->state;
  {
    std::lock_guard<std::mutex> guard (state->engine_lock);
    if (!state->engine)
      return;                   /* not started: start() will load */
  }
  const guint64 generation = ++state->generation;
  std::lock_guard<std::mutex> guard (state->loader_lock);
  if (state->loader.joinable ())
    state->loader.join ();
  gst_object_ref (self);
  state->loader = std::thread ([self, state, generation] () {
    const cg::EngineOptions options = engine_options (self);
    try {
      auto engine = std::make_shared<cg::Engine> (options);
      log_engine (self, *engine);
      std::lock_guard<std::mutex> engine_guard (state->engine_lock);
      if (state->engine && generation == state->generation.load ())
        state->engine = std::move (engine);
    } catch (const std::exception & e) {
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_READ,
          ("Could not load the new model settings, keeping the running model: %s", e.what ()), (NULL));
    }
    gst_object_unref (self);
  });
}

static void
gst_cyclegan_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
{
  GstCycleGan *self = GST_CYCLEGAN (object);
  gboolean reload = FALSE;

  try {
    GST_OBJECT_LOCK (self);
    Settings *s = self->settings;
    switch (prop_id) {
      case PROP_MODEL:{
        const gchar *v = g_value_get_string (value);
        s->model = v ? v : "";
        reload = TRUE;
        break;
      }
      case PROP_DEVICE:{
        const gchar *v = g_value_get_string (value);
        s->device = v ? v : DEFAULT_DEVICE;
        reload = TRUE;
        break;
      }
      case PROP_PRECISION:
        s->precision = (cg::Precision) g_value_get_enum (value);
        reload = TRUE;
        break;
      case PROP_THREADS:
        s->threads = g_value_get_uint (value);
        reload = TRUE;
        break;
      case PROP_PROCESS_SIZE:{
        const gchar *v = g_value_get_string (value);
        cg::EngineOptions check;
        if (v && parse_process_size (v, &check)) {
          s->process_size = v;
          reload = TRUE;
        } else {
          GST_WARNING_OBJECT (self, "ignoring process-size \"%s\": use native, model or WxH", v ? v : "(null)");
        }
        break;
      }
      case PROP_BYPASS:
        s->bypass = g_value_get_boolean (value);
        break;
      case PROP_BATCH_SIZE:
        s->batch_size = g_value_get_uint (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
    const gboolean bypass = s->bypass;
    GST_OBJECT_UNLOCK (self);

    if (prop_id == PROP_BYPASS)
      gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), bypass);
    if (prop_id == PROP_BATCH_SIZE) {
      /* the frames held change the latency and the output buffers needed */
      gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
      gst_element_post_message (GST_ELEMENT (self), gst_message_new_latency (GST_OBJECT (self)));
    }
    if (reload)
      start_reload (self);
  } catch (const std::exception & e) {
    GST_ERROR_OBJECT (self, "setting %s failed: %s", pspec->name, e.what ());
  }
}

static void
gst_cyclegan_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
{
  GstCycleGan *self = GST_CYCLEGAN (object);

  GST_OBJECT_LOCK (self);
  const Settings *s = self->settings;
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, s->model.empty ()? NULL : s->model.c_str ());
      break;
    case PROP_DEVICE:
      g_value_set_string (value, s->device.c_str ());
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, (gint) s->precision);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, s->threads);
      break;
    case PROP_PROCESS_SIZE:
      g_value_set_string (value, s->process_size.c_str ());
      break;
    case PROP_BYPASS:
      g_value_set_boolean (value, s->bypass);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, s->batch_size);
      break;
    case PROP_FRAMES_PROCESSED:
      g_value_set_uint64 (value, self->state->frames);
      break;
    case PROP_MEAN_INFERENCE_MS:
      g_value_set_double (value, self->state->frames ? self->state->total_ms / self->state->frames : 0.0);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gboolean
gst_cyclegan_start (GstBaseTransform * trans)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);
  const cg::EngineOptions options = engine_options (self);

  if (options.model_path.empty ())
    goto no_model;

  try {
    auto engine = std::make_shared<cg::Engine> (options);
    log_engine (self, *engine);
    std::lock_guard<std::mutex> guard (self->state->engine_lock);
    self->state->engine = std::move (engine);
  } catch (const cg::Error & e) {
    if (e.kind() == cg::ErrorKind::kSettings)
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("%s", e.what ()), (NULL));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ, ("Could not load model: %s", e.what ()), (NULL));
    return FALSE;
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, LIBRARY, INIT, ("Could not start: %s", e.what ()), (NULL));
    return FALSE;
  }

  {
    GST_OBJECT_LOCK (self);
    self->state->frames = 0;
    self->state->total_ms = 0.0;
    const gboolean bypass = self->settings->bypass;
    GST_OBJECT_UNLOCK (self);
    gst_base_transform_set_passthrough (trans, bypass);
  }
  return TRUE;

  /* ERRORS */
no_model:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No model given: set the model property to a G.pt file"),
        (NULL));
    return FALSE;
  }
}

static void
release_all (std::deque<GstBuffer *> &queue)
{
  for (GstBuffer *buf : queue)
    gst_buffer_unref (buf);
  queue.clear ();
}

static void
drop_held (GstCycleGan * self)
{
  release_all (self->state->held);
  release_all (self->state->ready);
}

static gboolean
gst_cyclegan_stop (GstBaseTransform * trans)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);

  drop_held (self);
  try {
    {
      std::lock_guard<std::mutex> guard (self->state->engine_lock);
      self->state->engine.reset ();
    }
    join_loader (self);
    std::lock_guard<std::mutex> guard (self->state->engine_lock);
    self->state->engine.reset ();       /* a reload that finished meanwhile does not survive */
  } catch (const std::exception & e) {
    GST_ERROR_OBJECT (self, "stop: %s", e.what ());
  }
  return TRUE;
}

static cg::FrameView
frame_view (GstVideoFrame * frame)
{
  cg::FrameView v;
  v.data = static_cast < uint8_t * >(GST_VIDEO_FRAME_PLANE_DATA (frame, 0));
  v.width = GST_VIDEO_FRAME_WIDTH (frame);
  v.height = GST_VIDEO_FRAME_HEIGHT (frame);
  v.row_stride = GST_VIDEO_FRAME_PLANE_STRIDE (frame, 0);
  v.pixel_stride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, 0);
  v.r = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_R);
  v.g = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_G);
  v.b = GST_VIDEO_FRAME_COMP_POFFSET (frame, GST_VIDEO_COMP_B);
  return v;
}

/* Translates n frames in one forward pass and counts them in the statistics. */
static GstFlowReturn
translate_frames (GstCycleGan * self, const cg::FrameView * in, const cg::FrameView * out, size_t n)
{
  std::shared_ptr<cg::Engine> engine;

  {
    std::lock_guard<std::mutex> guard (self->state->engine_lock);
    engine = self->state->engine;
  }
  if (!engine)
    goto not_started;

  try {
    const auto t0 = std::chrono::steady_clock::now ();
    engine->process_batch (in, out, n);
    const double ms = std::chrono::duration < double, std::milli > (std::chrono::steady_clock::now () - t0).count ();
    GST_OBJECT_LOCK (self);
    self->state->frames += n;
    self->state->total_ms += ms;
    GST_OBJECT_UNLOCK (self);
    GST_LOG_OBJECT (self, "%u frame(s) of %dx%d in %.2f ms", (guint) n, in[0].width, in[0].height, ms);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Translation failed: %s", e.what ()), (NULL));
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;

  /* ERRORS */
not_started:
  {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("No model loaded"), (NULL));
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn
gst_cyclegan_transform_frame (GstVideoFilter * filter, GstVideoFrame * in_frame, GstVideoFrame * out_frame)
{
  const cg::FrameView in = frame_view (in_frame), out = frame_view (out_frame);
  return translate_frames (GST_CYCLEGAN (filter), &in, &out, 1);
}

/* Translates the held frames in place, in one batch, and queues them for pushing. On failure
 * the held frames are dropped (the stream stops with an error). */
static GstFlowReturn
translate_held (GstCycleGan * self)
{
  State *state = self->state;
  const GstVideoInfo *info = &GST_VIDEO_FILTER (self)->out_info;
  const size_t n = state->held.size ();
  std::vector<GstVideoFrame> frames (n);
  std::vector<cg::FrameView> views;
  GstFlowReturn ret = GST_FLOW_OK;

  if (n == 0)
    return GST_FLOW_OK;
  views.reserve (n);
  for (GstBuffer *& buf : state->held) {
    buf = gst_buffer_make_writable (buf);       /* ours alone already: a no-op */
    if (!gst_video_frame_map (&frames[views.size ()], info, buf, GST_MAP_READWRITE))
      break;
    views.push_back (frame_view (&frames[views.size ()]));
  }
  if (views.size () == n)
    ret = translate_frames (self, views.data (), views.data (), n);
  for (size_t i = 0; i < views.size (); ++i)
    gst_video_frame_unmap (&frames[i]);
  if (views.size () != n)
    goto map_failed;
  if (ret != GST_FLOW_OK) {
    release_all (state->held);
    return ret;
  }
  state->ready.insert (state->ready.end (), state->held.begin (), state->held.end ());
  state->held.clear ();
  return GST_FLOW_OK;

  /* ERRORS */
map_failed:
  {
    release_all (state->held);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not map a held frame for writing"), (NULL));
    return GST_FLOW_ERROR;
  }
}

/* Copies an input frame into a buffer of the negotiated output pool, with the input's timestamps,
 * flags and metas, and holds that; the input buffer goes back upstream at once, so sources with
 * small pools (cameras, hardware decoders) never wait for the batch. Takes `input`; if bypass was
 * turned on meanwhile, puts it back in queued_buf for the parent to pass through. */
static GstFlowReturn
hold_frame (GstCycleGan * self, GstBuffer * input)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (self);
  GstVideoFilter *filter = GST_VIDEO_FILTER (self);
  GstBuffer *output = NULL;
  GstVideoFrame in_frame, out_frame;
  gboolean copied = FALSE;

  GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS (parent_class)->prepare_output_buffer (trans, input, &output);
  if (ret == GST_FLOW_OK && output == input) {
    trans->queued_buf = input;  /* passthrough now: the frame goes out after what is held */
    return GST_FLOW_OK;
  }
  if (ret != GST_FLOW_OK || output == NULL)
    goto no_output;
  if (gst_video_frame_map (&in_frame, &filter->in_info, input, GST_MAP_READ)) {
    if (gst_video_frame_map (&out_frame, &filter->out_info, output, GST_MAP_WRITE)) {
      copied = gst_video_frame_copy (&out_frame, &in_frame);
      gst_video_frame_unmap (&out_frame);
    }
    gst_video_frame_unmap (&in_frame);
  }
  gst_buffer_unref (input);
  if (!copied)
    goto copy_failed;
  GST_BUFFER_FLAG_UNSET (output, GST_BUFFER_FLAG_GAP);  /* a translated frame is not neutral */
  self->state->held.push_back (output);
  return GST_FLOW_OK;

  /* ERRORS */
no_output:
  {
    if (output)
      gst_buffer_unref (output);
    gst_buffer_unref (input);
    if (ret != GST_FLOW_OK)
      return ret;
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("No output buffer for a held frame"), (NULL));
    return GST_FLOW_ERROR;
  }
copy_failed:
  {
    gst_buffer_unref (output);
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Could not copy a frame for its batch"), (NULL));
    return GST_FLOW_ERROR;
  }
}

/* Pushes the frames translated so far; used before what must not overtake them. */
static GstFlowReturn
push_ready (GstCycleGan * self)
{
  GstFlowReturn ret = GST_FLOW_OK;
  while (!self->state->ready.empty ()) {
    GstBuffer *buf = self->state->ready.front ();
    self->state->ready.pop_front ();
    if (ret == GST_FLOW_OK)
      ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (self), buf);
    else
      gst_buffer_unref (buf);
  }
  return ret;
}

/* Translates and pushes a partial batch; called from event and query handlers, so nothing
 * may escape. */
static void
flush_held (GstCycleGan * self)
{
  try {
    if (!self->state->held.empty () && translate_held (self) == GST_FLOW_OK)
      push_ready (self);
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Flushing held frames failed: %s", e.what ()), (NULL));
  }
}

/* The frames a batch holds: the batch-size property, or 1 while the framerate is unknown (the
 * latency of held frames could not be reported) and in pull mode (EOS is no event there, so a
 * partial batch could not be flushed). The framerate comes back with it, read in the same lock. */
static guint
batch_size (GstCycleGan * self, gint * fps_n = NULL, gint * fps_d = NULL)
{
  const gboolean pull = GST_PAD_MODE (GST_BASE_TRANSFORM_SINK_PAD (self)) == GST_PAD_MODE_PULL;
  GST_OBJECT_LOCK (self);
  const guint n = self->state->fps_n > 0 && !pull ? self->settings->batch_size : 1;
  if (fps_n)
    *fps_n = self->state->fps_n;
  if (fps_d)
    *fps_d = self->state->fps_d;
  GST_OBJECT_UNLOCK (self);
  return n;
}

static GstFlowReturn
gst_cyclegan_submit_input_buffer (GstBaseTransform * trans, gboolean is_discont, GstBuffer * input)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);
  State *state = self->state;

  /* The parent drops late frames (QoS) and leaves the rest in queued_buf. */
  GstFlowReturn ret = GST_BASE_TRANSFORM_CLASS (parent_class)->submit_input_buffer (trans, is_discont, input);
  if (ret != GST_FLOW_OK || !trans->queued_buf)
    return ret;
  try {
    const guint n = batch_size (self);
    if (n > 1 && !gst_base_transform_is_passthrough (trans)) {
      GstBuffer *buf = trans->queued_buf;
      trans->queued_buf = NULL;
      ret = hold_frame (self, buf);
      /* a full batch, or bypass came on meanwhile (the frame is back in queued_buf) */
      if (ret == GST_FLOW_OK && (state->held.size () >= n || trans->queued_buf))
        ret = translate_held (self);
    } else if (!state->held.empty ()) {
      /* Batching was just turned off (bypass, batch-size 1): what is held goes first, since
       * generate_output hands out ready frames before the parent's queued_buf. */
      ret = translate_held (self);
    }
  } catch (const std::exception & e) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Batching failed: %s", e.what ()), (NULL));
    ret = GST_FLOW_ERROR;
  }
  return ret;
}

static GstFlowReturn
gst_cyclegan_generate_output (GstBaseTransform * trans, GstBuffer ** output)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);
  State *state = self->state;

  if (!state->ready.empty ()) {
    *output = state->ready.front ();
    state->ready.pop_front ();
    return GST_FLOW_OK;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->generate_output (trans, output);
}

static gboolean
gst_cyclegan_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    drop_held (self);
  else if (GST_EVENT_IS_SERIALIZED (event))
    flush_held (self);          /* held frames came before the event: EOS, caps, segment, tags ... */
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

/* Room in the output pool for the frames a batch holds, on top of what downstream asked for. */
static gboolean
gst_cyclegan_decide_allocation (GstBaseTransform * trans, GstQuery * query)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);
  GST_OBJECT_LOCK (self);
  const guint extra = self->settings->batch_size - 1;
  GST_OBJECT_UNLOCK (self);

  if (extra > 0 && gst_query_get_n_allocation_pools (query) > 0) {
    GstBufferPool *pool = NULL;
    guint size, min, max;
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
    /* Downstream may hold up to max - 1 buffers while the batch needs N at once. */
    min += extra;
    if (max != 0)
      max = MAX (min, max > G_MAXUINT - extra ? G_MAXUINT : max + extra);
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
    if (pool)
      gst_object_unref (pool);
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->decide_allocation (trans, query);
}

static gboolean
gst_cyclegan_set_info (GstVideoFilter * filter, GstCaps *, GstVideoInfo * in_info, GstCaps *,
    GstVideoInfo *)
{
  GstCycleGan *self = GST_CYCLEGAN (filter);
  GST_OBJECT_LOCK (self);
  self->state->fps_n = GST_VIDEO_INFO_FPS_N (in_info);
  self->state->fps_d = GST_VIDEO_INFO_FPS_D (in_info);
  GST_OBJECT_UNLOCK (self);
  return TRUE;
}

static gboolean
gst_cyclegan_query (GstBaseTransform * trans, GstPadDirection direction, GstQuery * query)
{
  GstCycleGan *self = GST_CYCLEGAN (trans);

  /* A serialized query (allocation, drain) must not overtake held frames. */
  if (direction == GST_PAD_SINK && GST_QUERY_IS_SERIALIZED (query))
    flush_held (self);
  if (!GST_BASE_TRANSFORM_CLASS (parent_class)->query (trans, direction, query))
    return FALSE;
  if (direction == GST_PAD_SRC && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    gint fps_n = 0, fps_d = 1;
    const guint n = batch_size (self, &fps_n, &fps_d);
    if (n > 1 && fps_n > 0) {
      gboolean live;
      GstClockTime min, max;
      gst_query_parse_latency (query, &live, &min, &max);
      const GstClockTime held = gst_util_uint64_scale_int (GST_SECOND * (n - 1), fps_d, fps_n);
      GST_DEBUG_OBJECT (self, "holding %u frames adds %" GST_TIME_FORMAT " of latency", n - 1, GST_TIME_ARGS (held));
      gst_query_set_latency (query, live, min + held, GST_CLOCK_TIME_IS_VALID (max) ? max + held : max);
    }
  }
  return TRUE;
}

static void
gst_cyclegan_finalize (GObject * object)
{
  GstCycleGan *self = GST_CYCLEGAN (object);

  join_loader (self);
  delete self->state;
  delete self->settings;
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_cyclegan_class_init (GstCycleGanClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstVideoFilterClass *filter_class = GST_VIDEO_FILTER_CLASS (klass);
  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags ro = (GParamFlags) (G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  GST_DEBUG_CATEGORY_INIT (gst_cyclegan_debug, "cyclegan", 0, "CycleGAN video translation");

  gobject_class->set_property = gst_cyclegan_set_property;
  gobject_class->get_property = gst_cyclegan_get_property;
  gobject_class->finalize = gst_cyclegan_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "Path of a G.pt generator (from cg-trainer train or export). Changing it while playing "
          "loads the new model in the background and swaps it in between two frames", DEFAULT_MODEL, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_string ("device", "Device",
          "auto (CUDA when LibTorch sees a GPU, else CPU), cpu, cuda or cuda:N", DEFAULT_DEVICE, rw));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision", "Arithmetic of the generator",
          GST_TYPE_CYCLEGAN_PRECISION, (gint) DEFAULT_PRECISION, rw));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads", "CPU threads for inference (0 = all cores), applied on the streaming thread",
          0, 1024, DEFAULT_THREADS, rw));
  g_object_class_install_property (gobject_class, PROP_PROCESS_SIZE,
      g_param_spec_string ("process-size", "Processing size",
          "native (each frame at its own size, padded to a multiple of 4), model (the training crop "
          "recorded in the model) or WxH: frames are scaled to that size and back", DEFAULT_PROCESS_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_BYPASS,
      g_param_spec_boolean ("bypass", "Bypass", "Pass frames through untranslated (for A/B comparison)",
          DEFAULT_BYPASS, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Frames translated together in one forward pass (faster on GPUs for small frames); "
          "frames are held until the batch is full, and the latency query reports them. Needs a "
          "fixed framerate; with a variable one frames go one by one", 1, MAX_BATCH_SIZE,
          DEFAULT_BATCH_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_FRAMES_PROCESSED,
      g_param_spec_uint64 ("frames-processed", "Frames processed", "Frames translated since the element started",
          0, G_MAXUINT64, 0, ro));
  g_object_class_install_property (gobject_class, PROP_MEAN_INFERENCE_MS,
      g_param_spec_double ("mean-inference-ms", "Mean inference time",
          "Mean time per translated frame in milliseconds, conversions included", 0, G_MAXDOUBLE, 0, ro));

  gst_element_class_set_static_metadata (element_class, "CycleGAN video translation", "Filter/Effect/Video",
      "Translates video frames with a CycleGAN generator through LibTorch (CPU or CUDA)",
      "cyclegan-gst developers");
  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR (gst_cyclegan_start);
  trans_class->stop = GST_DEBUG_FUNCPTR (gst_cyclegan_stop);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR (gst_cyclegan_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR (gst_cyclegan_generate_output);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_cyclegan_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_cyclegan_query);
  trans_class->decide_allocation = GST_DEBUG_FUNCPTR (gst_cyclegan_decide_allocation);
  filter_class->set_info = GST_DEBUG_FUNCPTR (gst_cyclegan_set_info);
  filter_class->transform_frame = GST_DEBUG_FUNCPTR (gst_cyclegan_transform_frame);

  gst_type_mark_as_plugin_api (GST_TYPE_CYCLEGAN_PRECISION, (GstPluginAPIFlags) 0);
}

static void
gst_cyclegan_init (GstCycleGan * self)
{
  self->settings = new Settings ();
  self->state = new State ();
  gst_base_transform_set_qos_enabled (GST_BASE_TRANSFORM (self), TRUE);
}

static gboolean
plugin_init (GstPlugin * plugin)
{
  return GST_ELEMENT_REGISTER (cyclegan, plugin);
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, cyclegan,
    "CycleGAN image-to-image translation of video", plugin_init, VERSION, "MIT/X11", PACKAGE,
    "cyclegan-gst")
