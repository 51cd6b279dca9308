// Where the element's C++ meets GStreamer's C: RAII for what GStreamer hands out (the object lock,
// buffers, mapped frames), so that an exception can leave nothing locked, mapped or leaked, and
// the one function that turns an exception into a bus message. GStreamer calls the element's
// vfuncs from C, where an escaping exception would terminate the process: every vfunc catches
// everything and hands it to CG_POST_EXCEPTION.
#pragma once

#include "engine/engine.h"

#include <gst/gst.h>
#include <gst/video/video.h>

#include <memory>

GST_DEBUG_CATEGORY_EXTERN(gst_cyclegan_debug);
#define GST_CAT_DEFAULT gst_cyclegan_debug

namespace cg::plugin {

// GST_OBJECT_LOCK for the guard's lifetime. The lock is a plain GMutex: never call anything that
// takes it again (gst_base_transform_set_passthrough, g_object_get ...) while a guard lives.
class ObjectLock {
 public:
  explicit ObjectLock(gpointer object) : object_(GST_OBJECT_CAST(object)) { GST_OBJECT_LOCK(object_); }
  ~ObjectLock() { GST_OBJECT_UNLOCK(object_); }
  ObjectLock(const ObjectLock&) = delete;
  ObjectLock& operator=(const ObjectLock&) = delete;

 private:
  GstObject* object_;
};

struct BufferUnref {
  void operator()(GstBuffer* buffer) const { gst_buffer_unref(buffer); }
};
// A buffer reference: released however the scope is left.
using BufferPtr = std::unique_ptr<GstBuffer, BufferUnref>;

// The engine's view of a mapped packed-RGB frame: it reads R, G and B at their byte offsets and
// leaves the other bytes (alpha, padding) alone.
cg::FrameView frame_view(GstVideoFrame* frame);

// A video frame mapped for the scope; throws cg::Error (kRuntime) with `what_failed` if it cannot
// be mapped.
class MappedFrame {
 public:
  MappedFrame(const GstVideoInfo* info, GstBuffer* buffer, GstMapFlags flags, const char* what_failed);
  ~MappedFrame() { gst_video_frame_unmap(&frame_); }
  MappedFrame(const MappedFrame&) = delete;
  MappedFrame& operator=(const MappedFrame&) = delete;
  GstVideoFrame* get() { return &frame_; }
  cg::FrameView view() { return frame_view(&frame_); }

 private:
  GstVideoFrame frame_;
};

// Posts the exception being handled (call it only inside a catch block) as an ERROR or WARNING
// message of `element`. The domain follows the kind of cg::Error: kModel is RESOURCE/OPEN_READ
// and reads "Could not load model: <file>: <reason>"; kSettings is RESOURCE/SETTINGS and reads as
// the engine wrote it (it names the setting); anything else, other exceptions included, is
// STREAM/FAILED. `context` (may be null) goes in front: what was being done, or what happens now.
void post_exception(GstElement* element, GstMessageType type, const char* context, const char* file,
                    const char* function, int line) noexcept;

}  // namespace cg::plugin

// The call site's file, function and line go into the message, as GST_ELEMENT_ERROR does.
#define CG_POST_EXCEPTION(element, type, context) \
  cg::plugin::post_exception(GST_ELEMENT(element), type, context, __FILE__, GST_FUNCTION, __LINE__)
