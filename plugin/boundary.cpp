#include "plugin/boundary.h"

#include "common/error.h"

#include <string>

namespace cg::plugin {

cg::FrameView frame_view(GstVideoFrame* frame) {
  cg::FrameView v;
  v.data = static_cast<uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(frame, 0));
  v.width = GST_VIDEO_FRAME_WIDTH(frame);
  v.height = GST_VIDEO_FRAME_HEIGHT(frame);
  v.row_stride = GST_VIDEO_FRAME_PLANE_STRIDE(frame, 0);
  v.pixel_stride = GST_VIDEO_FRAME_COMP_PSTRIDE(frame, 0);
  v.r = GST_VIDEO_FRAME_COMP_POFFSET(frame, GST_VIDEO_COMP_R);
  v.g = GST_VIDEO_FRAME_COMP_POFFSET(frame, GST_VIDEO_COMP_G);
  v.b = GST_VIDEO_FRAME_COMP_POFFSET(frame, GST_VIDEO_COMP_B);
  return v;
}

MappedFrame::MappedFrame(const GstVideoInfo* info, GstBuffer* buffer, GstMapFlags flags, const char* what_failed) {
  if (!gst_video_frame_map(&frame_, info, buffer, flags)) throw cg::Error(cg::ErrorKind::kRuntime, what_failed);
}

namespace {

struct Message {
  GQuark domain;
  gint code;
  std::string text;
};

// Rethrows the exception being handled to read its kind: the one place that knows which
// GStreamer error domain each kind of failure belongs to.
Message describe_current_exception() {
  try {
    throw;
  } catch (const cg::Error& e) {
    switch (e.kind()) {
      case cg::ErrorKind::kModel:
        return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ, std::string("Could not load model: ") + e.what()};
      case cg::ErrorKind::kSettings: return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS, e.what()};
      case cg::ErrorKind::kOutOfMemory: return {GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NO_SPACE_LEFT, e.what()};
      case cg::ErrorKind::kUsage:
      case cg::ErrorKind::kImage:
      case cg::ErrorKind::kCheckpoint:
      case cg::ErrorKind::kIo:
      case cg::ErrorKind::kRuntime: break;
    }
    return {GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, e.what()};
  } catch (const std::exception& e) {
    return {GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, e.what()};
  } catch (...) {
    return {GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, "unknown exception"};
  }
}

}  // namespace

void post_exception(GstElement* element, GstMessageType type, const char* context, const char* file,
                    const char* function, int line) noexcept {
  try {
    Message m = describe_current_exception();
    if (context) m.text = std::string(context) + ": " + m.text;
    GST_WARNING_OBJECT(element, "%s", m.text.c_str());
    gst_element_message_full(element, type, m.domain, m.code, g_strdup(m.text.c_str()), nullptr, file, function, line);
  } catch (...) {
    // No memory left to describe it: GStreamer's own text for the code still reaches the bus.
    gst_element_message_full(element, type, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, nullptr, nullptr, file, function,
                             line);
  }
}

}  // namespace cg::plugin
