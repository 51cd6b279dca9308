// What the element suites share: owning pointers for what GStreamer hands out, so that a failed
// ASSERT_ (which returns from the test body) leaks nothing, and a GstHarness around the element.
#pragma once

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <memory>
#include <string>

namespace cg::test {

struct MiniObjectUnref {
  void operator()(void* object) const { gst_mini_object_unref(GST_MINI_OBJECT_CAST(object)); }
};
struct ObjectUnref {
  void operator()(gpointer object) const { gst_object_unref(object); }
};
struct ErrorFree {
  void operator()(GError* error) const { g_error_free(error); }
};

template <typename T>
using MiniObjectPtr = std::unique_ptr<T, MiniObjectUnref>;
template <typename T>
using ObjectPtr = std::unique_ptr<T, ObjectUnref>;
using BufferPtr = MiniObjectPtr<GstBuffer>;
using MessagePtr = MiniObjectPtr<GstMessage>;
using ErrorPtr = std::unique_ptr<GError, ErrorFree>;

// A new reference to the same buffer, for functions that take one.
inline GstBuffer* ref(const BufferPtr& buffer) { return gst_buffer_ref(buffer.get()); }

inline std::string caps_of(const char* format, int w, int h) {
  return "video/x-raw,format=" + std::string(format) + ",width=" + std::to_string(w) + ",height=" + std::to_string(h) +
         ",framerate=30/1";
}

inline GstVideoInfo info_of(const std::string& caps_str) {
  GstVideoInfo info;
  GstCaps* caps = gst_caps_from_string(caps_str.c_str());
  gst_video_info_from_caps(&info, caps);
  gst_caps_unref(caps);
  return info;
}

// A harness around `launch` whose source pad has `caps` (by default 30 fps).
struct Harness {
  GstHarness* h;
  GstVideoInfo info;
  Harness(const std::string& launch, const std::string& caps) : h(gst_harness_new_parse(launch.c_str())) {
    gst_harness_set_src_caps_str(h, caps.c_str());
    info = info_of(caps);
  }
  Harness(const std::string& launch, const char* format, int w, int hgt) : Harness(launch, caps_of(format, w, hgt)) {}
  ~Harness() { gst_harness_teardown(h); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;
  ObjectPtr<GstElement> element() const { return ObjectPtr<GstElement>(gst_harness_find_element(h, "cyclegan")); }
  BufferPtr push_and_pull(GstBuffer* in) { return BufferPtr(gst_harness_push_and_pull(h, in)); }
  BufferPtr pull() { return BufferPtr(gst_harness_pull(h)); }
};

}  // namespace cg::test
