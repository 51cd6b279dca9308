/* cyclegan: a GstVideoFilter that translates raw video with a CycleGAN generator (G.pt), through
 * the GStreamer-free engine (engine/engine.h).
 *
 *   gst-launch-1.0 videotestsrc ! videoconvert ! cyclegan model=G_A.pt ! videoconvert ! autovideosink
 *
 * The model is loaded in start(), so that a missing or bad model fails the change to PAUSED with
 * an error naming the file instead of failing on the first frame. A change of model, device,
 * precision, threads or process-size while running is loaded on a helper thread and swapped in
 * between two frames, so the stream never waits for it; a failed load warns and keeps the model.
 *
 * The element is in parts, each with one locking rule, stated where the part is declared; no code
 * holds two of their locks at once:
 *   Settings  (plugin/settings.h)  the property values: the object lock.
 *   Stream    (plugin/stream.h)    engine, frames held, framerate, statistics: the stream's mutex.
 *   Reloader  (plugin/reloader.h)  the helper thread of the hot swap: its own mutex.
 *   Batching  (plugin/batching.h)  batch-size and parallel-frames; keeps its frames in the Stream.
 *   Parallel  (plugin/parallel.h)  the passes in flight with parallel-frames: its own mutex.
 * C++ exceptions stop at every vfunc and become bus messages (plugin/boundary.h). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugin/gstcyclegan.h"

#include "engine/engine.h"
#include "plugin/batching.h"
#include "plugin/boundary.h"
#include "plugin/parallel.h"
#include "plugin/reloader.h"
#include "plugin/settings.h"
#include "plugin/stream.h"

#include <memory>
#include <string>

GST_DEBUG_CATEGORY(gst_cyclegan_debug);

using cg::plugin::Batching;
using cg::plugin::ObjectLock;
using cg::plugin::Parallel;
using cg::plugin::Plan;
using cg::plugin::Reloader;
using cg::plugin::Settings;
using cg::plugin::Stream;

enum {
  PROP_0,
  /* the settings, writable: keep them first and together */
  PROP_MODEL,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_THREADS,
  PROP_PROCESS_SIZE,
  PROP_BYPASS,
  PROP_BATCH_SIZE,
  PROP_MEMORY_FORMAT,
  PROP_TEMPORAL,
  PROP_TEMPORAL_STRENGTH,
  PROP_RUNTIME,
  PROP_PARALLEL_FRAMES,
  /* the statistics, read-only */
  PROP_FRAMES_PROCESSED,
  PROP_MEAN_INFERENCE_MS,
};

#define IS_SETTING(prop_id) ((prop_id) >= PROP_MODEL && (prop_id) <= PROP_PARALLEL_FRAMES)

#define VIDEO_FORMATS "{ RGB, BGR, RGBx, BGRx, xRGB, xBGR, RGBA, BGRA, ARGB, ABGR }"

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));
static GstStaticPadTemplate src_template =
    GST_STATIC_PAD_TEMPLATE("src", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS(GST_VIDEO_CAPS_MAKE(VIDEO_FORMATS)));

/* Behind a pointer: GObject allocates the instance struct as C, without constructors. */
struct Parts {
  explicit Parts(GstCycleGan* self);
  Settings settings;
  Stream stream;
  Parallel parallel; /* before batching, which uses it; its workers are joined before the stream goes */
  Batching batching;
  Reloader reloader; /* last, so destroyed first: its work uses the others */
  /* The streaming thread's alone. GstBaseTransform keeps is_discont TRUE until a frame leaves
   * through generate_output, and frames held or in flight leave later or by a flush: reacting
   * to it on every frame would flush each frame alone and restart the temporal filter each time. */
  bool in_discont = false;
};

struct _GstCycleGan {
  GstVideoFilter parent;
  Parts* parts;
};

/* What the streaming thread reads of the settings for each frame. */
struct FrameSettings {
  bool bypass;
  Plan plan;
  cg::plugin::TemporalSettings temporal;
};

static void gst_cyclegan_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec);
static void gst_cyclegan_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec);
static void gst_cyclegan_finalize(GObject* object);

static gboolean gst_cyclegan_start(GstBaseTransform* trans);
static gboolean gst_cyclegan_stop(GstBaseTransform* trans);
static GstFlowReturn gst_cyclegan_submit_input_buffer(GstBaseTransform* trans, gboolean is_discont, GstBuffer* input);
static GstFlowReturn gst_cyclegan_generate_output(GstBaseTransform* trans, GstBuffer** output);
static gboolean gst_cyclegan_sink_event(GstBaseTransform* trans, GstEvent* event);
static gboolean gst_cyclegan_query(GstBaseTransform* trans, GstPadDirection direction, GstQuery* query);
static gboolean gst_cyclegan_decide_allocation(GstBaseTransform* trans, GstQuery* query);

static gboolean gst_cyclegan_set_info(GstVideoFilter* filter, GstCaps* incaps, GstVideoInfo* in_info, GstCaps* outcaps,
                                      GstVideoInfo* out_info);
static GstFlowReturn gst_cyclegan_transform_frame(GstVideoFilter* filter, GstVideoFrame* in_frame,
                                                  GstVideoFrame* out_frame);

static gboolean gst_cyclegan_store_setting(GstCycleGan* self, guint prop_id, const GValue* value);
static void gst_cyclegan_apply_setting(GstCycleGan* self, guint prop_id);
static void gst_cyclegan_read_setting(GstCycleGan* self, guint prop_id, GValue* value);
static void gst_cyclegan_read_statistic(GstCycleGan* self, guint prop_id, GValue* value);
static Settings gst_cyclegan_settings(GstCycleGan* self);
static FrameSettings gst_cyclegan_frame_settings(GstCycleGan* self);
static gboolean gst_cyclegan_open(GstCycleGan* self);
static std::shared_ptr<cg::Engine> gst_cyclegan_load(GstCycleGan* self, const Settings& settings);
static void gst_cyclegan_reload(GstCycleGan* self);

#define gst_cyclegan_parent_class parent_class
G_DEFINE_TYPE(GstCycleGan, gst_cyclegan, GST_TYPE_VIDEO_FILTER);
GST_ELEMENT_REGISTER_DEFINE(cyclegan, "cyclegan", GST_RANK_NONE, GST_TYPE_CYCLEGAN);

static void gst_cyclegan_class_init(GstCycleGanClass* klass) {
  GObjectClass* gobject_class = G_OBJECT_CLASS(klass);
  GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
  GstBaseTransformClass* trans_class = GST_BASE_TRANSFORM_CLASS(klass);
  GstVideoFilterClass* filter_class = GST_VIDEO_FILTER_CLASS(klass);
  const GParamFlags rw = (GParamFlags)(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_PLAYING);
  const GParamFlags ro = (GParamFlags)(G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
  const Settings defaults; /* every property's default, in one place (plugin/settings.h) */

  GST_DEBUG_CATEGORY_INIT(gst_cyclegan_debug, "cyclegan", 0, "CycleGAN video translation");

  gobject_class->set_property = gst_cyclegan_set_property;
  gobject_class->get_property = gst_cyclegan_get_property;
  gobject_class->finalize = gst_cyclegan_finalize;

  g_object_class_install_property(
      gobject_class, PROP_MODEL,
      g_param_spec_string(
          "model", "Model",
          "Path of a G.pt or G.safetensors generator (from cg-trainer train or export). Changing it while "
          "playing loads the new model in the background and swaps it in between two frames",
          NULL, rw));
  g_object_class_install_property(
      gobject_class, PROP_DEVICE,
      g_param_spec_string("device", "Device", "auto (CUDA when LibTorch sees a GPU, else CPU), cpu, cuda or cuda:N",
                          defaults.device.c_str(), rw));
  g_object_class_install_property(
      gobject_class, PROP_PRECISION,
      g_param_spec_enum("precision", "Precision",
                        "Arithmetic of the generator: fp32 is strict IEEE float everywhere; "
                        "tf32 lets CUDA tensor cores round convolution inputs (faster on "
                        "Ampere and newer); fp16 needs CUDA; bf16 is fast on GPUs and on "
                        "CPUs with AVX-512 BF16 or AMX, several times slower elsewhere",
                        GST_TYPE_CYCLEGAN_PRECISION, (gint)defaults.precision, rw));
  g_object_class_install_property(
      gobject_class, PROP_THREADS,
      g_param_spec_uint("threads", "Threads",
                        "CPU threads, applied on the streaming thread: for inference on the CPU (0 = all cores), "
                        "for the frame copies on CUDA (0 = 2)",
                        0, cg::plugin::kMaxThreads, defaults.threads, rw));
  g_object_class_install_property(
      gobject_class, PROP_PROCESS_SIZE,
      g_param_spec_string("process-size", "Processing size",
                          "native (each frame at its own size, padded to the model's size rule, which "
                          "cg-trainer info prints), model (the training crop recorded in the model) or WxH: frames "
                          "are scaled to that size and back",
                          defaults.process_size.c_str(), rw));
  g_object_class_install_property(
      gobject_class, PROP_BYPASS,
      g_param_spec_boolean("bypass", "Bypass", "Pass frames through untranslated (for A/B comparison)", defaults.bypass,
                           rw));
  g_object_class_install_property(
      gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint("batch-size", "Batch size",
                        "Frames translated together in one forward pass (faster on GPUs for small frames); "
                        "frames are held until the batch is full, and the latency query reports them. Needs a "
                        "fixed framerate; with a variable one frames go one by one",
                        1, cg::plugin::kMaxBatchSize, defaults.batch_size, rw));
  g_object_class_install_property(
      gobject_class, PROP_MEMORY_FORMAT,
      g_param_spec_enum("memory-format", "Memory format",
                        "Activation layout: auto (channels-last on the CPU, contiguous on CUDA), contiguous or "
                        "channels-last",
                        GST_TYPE_CYCLEGAN_MEMORY_FORMAT, (gint)defaults.memory_format, rw));
  g_object_class_install_property(
      gobject_class, PROP_TEMPORAL,
      g_param_spec_enum("temporal", "Temporal filter",
                        "off: each frame translated alone; flow: each output pulled towards the previous output "
                        "carried along the input's optical flow where the input shows the same surface (less flicker, "
                        "no added latency)",
                        GST_TYPE_CYCLEGAN_TEMPORAL, (gint)defaults.temporal.mode, rw));
  g_object_class_install_property(
      gobject_class, PROP_TEMPORAL_STRENGTH,
      g_param_spec_double("temporal-strength", "Temporal strength",
                          "With temporal=flow: how far each output is pulled towards the previous one (0: not at all, "
                          "1: as far as the input allows)",
                          0.0, 1.0, defaults.temporal.strength, rw));
  g_object_class_install_property(
      gobject_class, PROP_RUNTIME,
      g_param_spec_enum("runtime", "Runtime",
                        "What runs the generator: auto (native for models with cyclegan-gst metadata, else "
                        "TorchScript), native (the C++ forward built from the model's layers) or torchscript (the "
                        "G.pt's TorchScript; a G.safetensors is scripted on loading)",
                        GST_TYPE_CYCLEGAN_RUNTIME, (gint)defaults.runtime, rw));
  g_object_class_install_property(
      gobject_class, PROP_PARALLEL_FRAMES,
      g_param_spec_uint(
          "parallel-frames", "Parallel frames",
          "Frames (or batches, with batch-size) translated at once on worker threads, each on "
          "max(1, threads / N) of the threads (threads=0: all cores): more frames per second for "
          "small models on the CPU, for N - 1 more frames (batches) of latency, which the latency "
          "query reports; the same frames, order and timestamps as 1 on the same threads per frame. "
          "temporal=flow blends after, in order. Needs a fixed framerate; with a variable one frames go one by one",
          1, cg::plugin::kMaxParallelFrames, defaults.parallel_frames, rw));
  g_object_class_install_property(
      gobject_class, PROP_FRAMES_PROCESSED,
      g_param_spec_uint64("frames-processed", "Frames processed", "Frames translated since the element started", 0,
                          G_MAXUINT64, 0, ro));
  g_object_class_install_property(
      gobject_class, PROP_MEAN_INFERENCE_MS,
      g_param_spec_double("mean-inference-ms", "Mean inference time",
                          "Mean time per translated frame in milliseconds, conversions included", 0, G_MAXDOUBLE, 0,
                          ro));

  gst_element_class_set_static_metadata(element_class, "CycleGAN video translation", "Filter/Effect/Video",
                                        "Translates video frames with a CycleGAN generator through LibTorch (CPU or "
                                        "CUDA)",
                                        "cyclegan-gst developers");
  gst_element_class_add_static_pad_template(element_class, &sink_template);
  gst_element_class_add_static_pad_template(element_class, &src_template);

  trans_class->start = GST_DEBUG_FUNCPTR(gst_cyclegan_start);
  trans_class->stop = GST_DEBUG_FUNCPTR(gst_cyclegan_stop);
  trans_class->submit_input_buffer = GST_DEBUG_FUNCPTR(gst_cyclegan_submit_input_buffer);
  trans_class->generate_output = GST_DEBUG_FUNCPTR(gst_cyclegan_generate_output);
  trans_class->sink_event = GST_DEBUG_FUNCPTR(gst_cyclegan_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR(gst_cyclegan_query);
  trans_class->decide_allocation = GST_DEBUG_FUNCPTR(gst_cyclegan_decide_allocation);
  filter_class->set_info = GST_DEBUG_FUNCPTR(gst_cyclegan_set_info);
  filter_class->transform_frame = GST_DEBUG_FUNCPTR(gst_cyclegan_transform_frame);

  gst_type_mark_as_plugin_api(GST_TYPE_CYCLEGAN_PRECISION, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_CYCLEGAN_MEMORY_FORMAT, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_CYCLEGAN_TEMPORAL, (GstPluginAPIFlags)0);
  gst_type_mark_as_plugin_api(GST_TYPE_CYCLEGAN_RUNTIME, (GstPluginAPIFlags)0);
}

static void gst_cyclegan_init(GstCycleGan* self) {
  try {
    self->parts = new Parts(self);
  } catch (...) {
    g_error("cyclegan: out of memory"); /* what g_new does: an instance init cannot fail */
  }
  gst_base_transform_set_qos_enabled(GST_BASE_TRANSFORM(self), TRUE);
}

Parts::Parts(GstCycleGan* self)
    : stream(GST_ELEMENT(self)),
      parallel(stream),
      batching(GST_BASE_TRANSFORM(self), GST_BASE_TRANSFORM_CLASS(parent_class), stream, parallel),
      reloader([self] { gst_cyclegan_reload(self); }) {}

/* No try: only destructors run, and they do not throw. */
static void gst_cyclegan_finalize(GObject* object) {
  delete GST_CYCLEGAN(object)->parts;
  G_OBJECT_CLASS(parent_class)->finalize(object);
}

/* The element's enums are registered once, whichever thread asks first. */
static GType register_enum_once(GType* type, const char* name, const GEnumValue* values) {
  if (g_once_init_enter(type)) {
    GType t = g_enum_register_static(name, values);
    g_once_init_leave(type, t);
  }
  return *type;
}

GType gst_cyclegan_precision_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)cg::Precision::kFP32, "32-bit float", "fp32"},
      {(gint)cg::Precision::kFP16, "16-bit float (CUDA only)", "fp16"},
      {(gint)cg::Precision::kBF16, "bfloat16", "bf16"},
      {(gint)cg::Precision::kTF32, "32-bit float, TF32 convolutions on CUDA", "tf32"},
      {0, NULL, NULL},
  };
  return register_enum_once(&type, "GstCycleGanPrecision", values);
}

GType gst_cyclegan_memory_format_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)cg::MemoryFormat::kAuto, "Channels-last on the CPU, contiguous on CUDA", "auto"},
      {(gint)cg::MemoryFormat::kContiguous, "NCHW", "contiguous"},
      {(gint)cg::MemoryFormat::kChannelsLast, "NHWC", "channels-last"},
      {0, NULL, NULL},
  };
  return register_enum_once(&type, "GstCycleGanMemoryFormat", values);
}

GType gst_cyclegan_runtime_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)cg::Runtime::kAuto, "Native for models with cyclegan-gst metadata, else TorchScript", "auto"},
      {(gint)cg::Runtime::kNative, "The C++ forward built from the model's layers", "native"},
      {(gint)cg::Runtime::kTorchScript, "TorchScript's interpreter", "torchscript"},
      {0, NULL, NULL},
  };
  return register_enum_once(&type, "GstCycleGanRuntime", values);
}

GType gst_cyclegan_temporal_get_type(void) {
  static GType type = 0;
  static const GEnumValue values[] = {
      {(gint)cg::plugin::TemporalMode::kOff, "Each frame alone", "off"},
      {(gint)cg::plugin::TemporalMode::kFlow, "Blend along the input's optical flow", "flow"},
      {0, NULL, NULL},
  };
  return register_enum_once(&type, "GstCycleGanTemporal", values);
}

/* Stores the value, then hands it to whoever acts on it, as gstgamma.c does: nothing waits here. */
static void gst_cyclegan_set_property(GObject* object, guint prop_id, const GValue* value, GParamSpec* pspec) {
  GstCycleGan* self = GST_CYCLEGAN(object);

  if (!IS_SETTING(prop_id)) {
    G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
    return;
  }
  try {
    if (gst_cyclegan_store_setting(self, prop_id, value)) gst_cyclegan_apply_setting(self, prop_id);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_WARNING, pspec->name);
  }
}

static void gst_cyclegan_get_property(GObject* object, guint prop_id, GValue* value, GParamSpec* pspec) {
  GstCycleGan* self = GST_CYCLEGAN(object);

  try {
    if (IS_SETTING(prop_id))
      gst_cyclegan_read_setting(self, prop_id, value);
    else if (prop_id == PROP_FRAMES_PROCESSED || prop_id == PROP_MEAN_INFERENCE_MS)
      gst_cyclegan_read_statistic(self, prop_id, value);
    else
      G_OBJECT_WARN_INVALID_PROPERTY_ID(object, prop_id, pspec);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_WARNING, pspec->name);
  }
}

/* The load happens here rather than on the first frame so that a bad model or device fails the
 * change to PAUSED, with the file and the reason. */
static gboolean gst_cyclegan_start(GstBaseTransform* trans) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  try {
    if (!gst_cyclegan_open(self)) goto no_model;
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, nullptr);
    return FALSE;
  }
  return TRUE;

  /* ERRORS */
no_model:
  GST_ELEMENT_ERROR(self, RESOURCE, NOT_FOUND, ("No model given: set the model property to a G.pt file"), (NULL));
  return FALSE;
}

static gboolean gst_cyclegan_stop(GstBaseTransform* trans) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  self->parts->reloader.stop(); /* first: no reload may land in the stream after it stopped */
  self->parts->parallel.stop(); /* no pass may run on the stream's engine after it stopped */
  try {
    self->parts->stream.stop();
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_WARNING, "Stopping failed");
  }
  return TRUE;
}

static gboolean gst_cyclegan_set_info(GstVideoFilter* filter, GstCaps*, GstVideoInfo* in_info, GstCaps*,
                                      GstVideoInfo*) {
  GstCycleGan* self = GST_CYCLEGAN(filter);

  try {
    const guint batch_size = gst_cyclegan_frame_settings(self).plan.batch_size;
    self->parts->stream.set_framerate({GST_VIDEO_INFO_FPS_N(in_info), GST_VIDEO_INFO_FPS_D(in_info)});
    self->parts->stream.reset_temporal(); /* new caps */
    /* the batch that will run: 1 where batching is not possible, or each frame would be padded */
    self->parts->stream.warm_up({GST_VIDEO_INFO_WIDTH(in_info), GST_VIDEO_INFO_HEIGHT(in_info),
                                 self->parts->batching.effective_batch(batch_size)});
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Negotiation failed");
    return FALSE;
  }
  return TRUE;
}

static gboolean gst_cyclegan_decide_allocation(GstBaseTransform* trans, GstQuery* query) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  try {
    self->parts->batching.make_room(query, gst_cyclegan_frame_settings(self).plan);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Allocation failed");
    return FALSE;
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->decide_allocation(trans, query);
}

/* A serialized query (allocation, drain) must not overtake held frames; the latency query
 * answered upstream gets the frames held added. */
static gboolean gst_cyclegan_query(GstBaseTransform* trans, GstPadDirection direction, GstQuery* query) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  try {
    if (direction == GST_PAD_SINK && GST_QUERY_IS_SERIALIZED(query))
      self->parts->batching.flush(gst_cyclegan_frame_settings(self).plan);
    if (!GST_BASE_TRANSFORM_CLASS(parent_class)->query(trans, direction, query)) return FALSE;
    if (direction == GST_PAD_SRC && GST_QUERY_TYPE(query) == GST_QUERY_LATENCY)
      self->parts->batching.add_latency(query, gst_cyclegan_frame_settings(self).plan);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Query failed");
    return FALSE;
  }
  return TRUE;
}

/* Held frames came before any serialized event (EOS, caps, segment, tags ...): they go first.
 * After a flush they belong to the old position. A failed flush still lets the event through. */
static gboolean gst_cyclegan_sink_event(GstBaseTransform* trans, GstEvent* event) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  try {
    if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP)
      self->parts->batching.discard();
    else if (GST_EVENT_IS_SERIALIZED(event))
      self->parts->batching.flush(gst_cyclegan_frame_settings(self).plan);
    /* after a seek, or in another stream, the last frame translated is not the one before */
    if (GST_EVENT_TYPE(event) == GST_EVENT_FLUSH_STOP || GST_EVENT_TYPE(event) == GST_EVENT_STREAM_START ||
        GST_EVENT_TYPE(event) == GST_EVENT_SEGMENT)
      self->parts->stream.reset_temporal();
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Flushing held frames failed");
  }
  return GST_BASE_TRANSFORM_CLASS(parent_class)->sink_event(trans, event);
}

/* bypass is applied here, frame by frame, rather than in set_property: with the streaming thread
 * the only one to switch passthrough, two threads setting bypass cannot leave it out of step with
 * the property. */
static GstFlowReturn gst_cyclegan_submit_input_buffer(GstBaseTransform* trans, gboolean is_discont, GstBuffer* input) {
  GstCycleGan* self = GST_CYCLEGAN(trans);
  const FrameSettings settings = gst_cyclegan_frame_settings(self);

  gst_base_transform_set_passthrough(trans, settings.bypass);
  try {
    /* what the filter carries must be the frame just before: not one before a gap or untranslated */
    const bool discont = GST_BUFFER_IS_DISCONT(input) || (is_discont && !self->parts->in_discont);
    self->parts->in_discont = is_discont;
    if (discont || settings.bypass) {
      self->parts->batching.flush(settings.plan); /* the frames before the gap are blended among themselves */
      self->parts->stream.reset_temporal();
    }
    self->parts->stream.set_temporal(settings.temporal);
    return self->parts->batching.submit(is_discont, input, settings.plan);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Batching failed");
    return GST_FLOW_ERROR;
  }
}

static GstFlowReturn gst_cyclegan_generate_output(GstBaseTransform* trans, GstBuffer** output) {
  GstCycleGan* self = GST_CYCLEGAN(trans);

  try {
    return self->parts->batching.generate_output(output, gst_cyclegan_frame_settings(self).plan);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Batching failed");
    return GST_FLOW_ERROR;
  }
}

/* Frames one by one: batch-size 1, or no batching possible (see plugin/batching.h). */
static GstFlowReturn gst_cyclegan_transform_frame(GstVideoFilter* filter, GstVideoFrame* in_frame,
                                                  GstVideoFrame* out_frame) {
  GstCycleGan* self = GST_CYCLEGAN(filter);

  try {
    const cg::FrameView in = cg::plugin::frame_view(in_frame), out = cg::plugin::frame_view(out_frame);
    self->parts->stream.translate(&in, &out, 1);
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_ERROR, "Translation failed");
    return GST_FLOW_ERROR;
  }
  return GST_FLOW_OK;
}

static std::string string_value(const GValue* value, const char* if_null) {
  const gchar* v = g_value_get_string(value);
  return v ? v : if_null;
}

/* Strings are built before the lock, so that under it only moves and copies of plain values
 * happen. Returns FALSE for a value refused. */
static gboolean gst_cyclegan_store_setting(GstCycleGan* self, guint prop_id, const GValue* value) {
  Settings& s = self->parts->settings;
  cg::EngineOptions parsed;
  std::string text = G_VALUE_HOLDS_STRING(value)
                         ? string_value(value, prop_id == PROP_DEVICE ? Settings().device.c_str() : "")
                         : std::string();

  if (prop_id == PROP_PROCESS_SIZE && !cg::plugin::parse_process_size(text, &parsed)) goto bad_process_size;
  {
    ObjectLock lock(self);
    switch (prop_id) {
      case PROP_MODEL: s.model.swap(text); break;
      case PROP_DEVICE: s.device.swap(text); break;
      case PROP_PRECISION: s.precision = (cg::Precision)g_value_get_enum(value); break;
      case PROP_THREADS: s.threads = g_value_get_uint(value); break;
      case PROP_PROCESS_SIZE: s.process_size.swap(text); break;
      case PROP_BYPASS: s.bypass = g_value_get_boolean(value); return TRUE;
      case PROP_BATCH_SIZE: s.batch_size = g_value_get_uint(value); return TRUE;
      case PROP_MEMORY_FORMAT: s.memory_format = (cg::MemoryFormat)g_value_get_enum(value); break;
      case PROP_TEMPORAL: s.temporal.mode = (cg::plugin::TemporalMode)g_value_get_enum(value); return TRUE;
      case PROP_TEMPORAL_STRENGTH: s.temporal.strength = g_value_get_double(value); return TRUE;
      case PROP_RUNTIME: s.runtime = (cg::Runtime)g_value_get_enum(value); break;
      case PROP_PARALLEL_FRAMES: s.parallel_frames = g_value_get_uint(value); return TRUE;
    }
    ++s.engine_version;
  }
  return TRUE;

  /* ERRORS */
bad_process_size:
  GST_WARNING_OBJECT(self, "ignoring process-size \"%s\": use native, model or WxH",
                     g_value_get_string(value) ? g_value_get_string(value) : "(null)");
  return FALSE;
}

static void gst_cyclegan_apply_setting(GstCycleGan* self, guint prop_id) {
  switch (prop_id) {
    case PROP_BYPASS:
    case PROP_TEMPORAL:
    case PROP_TEMPORAL_STRENGTH: break; /* applied to the next frame, in submit_input_buffer */
    case PROP_BATCH_SIZE:
    case PROP_PARALLEL_FRAMES:
      /* the frames held and in flight change the output buffers needed and the latency */
      gst_base_transform_reconfigure_src(GST_BASE_TRANSFORM(self));
      gst_element_post_message(GST_ELEMENT(self), gst_message_new_latency(GST_OBJECT(self)));
      break;
    default: self->parts->reloader.request(); break;
  }
}

static void gst_cyclegan_read_setting(GstCycleGan* self, guint prop_id, GValue* value) {
  const Settings s = gst_cyclegan_settings(self);

  switch (prop_id) {
    case PROP_MODEL: g_value_set_string(value, s.model.empty() ? NULL : s.model.c_str()); break;
    case PROP_DEVICE: g_value_set_string(value, s.device.c_str()); break;
    case PROP_PRECISION: g_value_set_enum(value, (gint)s.precision); break;
    case PROP_THREADS: g_value_set_uint(value, s.threads); break;
    case PROP_PROCESS_SIZE: g_value_set_string(value, s.process_size.c_str()); break;
    case PROP_BYPASS: g_value_set_boolean(value, s.bypass); break;
    case PROP_BATCH_SIZE: g_value_set_uint(value, s.batch_size); break;
    case PROP_MEMORY_FORMAT: g_value_set_enum(value, (gint)s.memory_format); break;
    case PROP_TEMPORAL: g_value_set_enum(value, (gint)s.temporal.mode); break;
    case PROP_TEMPORAL_STRENGTH: g_value_set_double(value, s.temporal.strength); break;
    case PROP_RUNTIME: g_value_set_enum(value, (gint)s.runtime); break;
    case PROP_PARALLEL_FRAMES: g_value_set_uint(value, s.parallel_frames); break;
  }
}

static void gst_cyclegan_read_statistic(GstCycleGan* self, guint prop_id, GValue* value) {
  const cg::plugin::Statistics stats = self->parts->stream.statistics();

  if (prop_id == PROP_FRAMES_PROCESSED)
    g_value_set_uint64(value, stats.frames);
  else
    g_value_set_double(value, stats.frames ? stats.total_ms / stats.frames : 0.0);
}

static Settings gst_cyclegan_settings(GstCycleGan* self) {
  ObjectLock lock(self);
  return self->parts->settings;
}

static FrameSettings gst_cyclegan_frame_settings(GstCycleGan* self) {
  ObjectLock lock(self);
  const Settings& s = self->parts->settings;
  return {s.bypass, {s.batch_size, s.parallel_frames, s.threads}, s.temporal};
}

/* A new stream on a freshly loaded engine; FALSE without a model. */
static gboolean gst_cyclegan_open(GstCycleGan* self) {
  const Settings settings = gst_cyclegan_settings(self);

  if (settings.model.empty()) return FALSE;
  self->parts->stream.start(gst_cyclegan_load(self, settings));
  self->parts->reloader.start();
  gst_base_transform_set_passthrough(GST_BASE_TRANSFORM(self), settings.bypass);
  /* a change that came in during the load found no reloader running */
  if (gst_cyclegan_settings(self).engine_version != settings.engine_version) self->parts->reloader.request();
  return TRUE;
}

/* Throws cg::Error naming the file or the setting, and the reason. */
static std::shared_ptr<cg::Engine> gst_cyclegan_load(GstCycleGan* self, const Settings& settings) {
  auto engine = std::make_shared<cg::Engine>(cg::plugin::engine_options(settings));
  const cg::EngineInfo& info = engine->info();

  if (!info.fallback_note.empty()) GST_WARNING_OBJECT(self, "%s", info.fallback_note.c_str());
  if (!info.warning.empty()) GST_WARNING_OBJECT(self, "%s", info.warning.c_str());
  GST_INFO_OBJECT(self, "model %s (%s) on %s, %s, %s, %s runtime", settings.model.c_str(), info.architecture.c_str(),
                  info.device.c_str(), info.precision.c_str(), info.memory_format.c_str(), info.runtime.c_str());
  return engine;
}

/* The reloader's work, on its helper thread. The old engine is released here too, not on the
 * streaming thread (unless a frame still runs on it). */
static void gst_cyclegan_reload(GstCycleGan* self) {
  try {
    if (!self->parts->stream.replace_engine(gst_cyclegan_load(self, gst_cyclegan_settings(self))))
      GST_DEBUG_OBJECT(self, "stopped during the load: the new engine is dropped");
  } catch (...) {
    CG_POST_EXCEPTION(self, GST_MESSAGE_WARNING, "Keeping the running model");
  }
}

static gboolean plugin_init(GstPlugin* plugin) { return GST_ELEMENT_REGISTER(cyclegan, plugin); }

GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, cyclegan, "CycleGAN image-to-image translation of video",
                  plugin_init, VERSION, "MIT/X11", PACKAGE, "cyclegan-gst")
