// libFuzzer target: the cyclegan element with fuzzed caps and frames: format, size, row stride
// (through GstVideoMeta) and pixel contents. Each frame must come out with the input's size and
// its alpha or padding bytes untouched, also when it is held for a batch (batch-size 2, flushed by
// EOS). The model is a tiny generator made at start-up.
#include "model/model-file.h"

#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include <unistd.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

const char* kFormats[] = {"RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR"};

std::string make_model() {
  const std::string path = "/tmp/cg-fuzz-frames-" + std::to_string(::getpid()) + ".pt";
  cg::GeneratorOptions o;
  o.ngf = 2;
  o.n_blocks = 1;
  cg::Generator g(o);
  cg::init_weights(*g);
  cg::save_generator(g, cg::ModelMetadata::for_generator(o), path);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  gst_init(argc, argv);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string model = make_model();
  if (size < 4) return 0;
  const char* format = kFormats[data[0] % 10];
  const int width = 1 + data[1] % 48, height = 1 + data[2] % 48, pad = data[3] % 17;
  const int batch = 1 + (data[3] / 17) % 2;
  data += 4;
  size -= 4;

  GstVideoInfo info;
  gst_video_info_set_format(&info, gst_video_format_from_string(format), width, height);
  const int ps = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0);
  const int stride = width * ps + pad;
  const gsize bytes = static_cast<gsize>(stride) * height;
  GstBuffer* in = gst_buffer_new_allocate(nullptr, bytes, nullptr);
  GstMapInfo map;
  gst_buffer_map(in, &map, GST_MAP_WRITE);
  for (gsize i = 0; i < bytes; ++i) map.data[i] = size ? data[i % size] : static_cast<guint8>(i);
  std::string original(reinterpret_cast<char*>(map.data), bytes);
  gst_buffer_unmap(in, &map);
  gsize offset[GST_VIDEO_MAX_PLANES] = {0};
  gint strides[GST_VIDEO_MAX_PLANES] = {stride};
  gst_buffer_add_video_meta_full(in, GST_VIDEO_FRAME_FLAG_NONE, GST_VIDEO_INFO_FORMAT(&info), width, height, 1, offset,
                                 strides);

  GstHarness* h = gst_harness_new_parse(
      ("cyclegan device=cpu threads=1 batch-size=" + std::to_string(batch) + " model=" + model).c_str());
  gst_harness_set_src_caps_str(h, ("video/x-raw,format=" + std::string(format) + ",width=" + std::to_string(width) +
                                   ",height=" + std::to_string(height) + ",framerate=30/1")
                                      .c_str());
  GstBuffer* out = nullptr;
  if (batch == 1) {
    out = gst_harness_push_and_pull(h, in);
  } else {
    if (gst_harness_push(h, in) != GST_FLOW_OK || gst_harness_buffers_in_queue(h) != 0) std::abort();
    gst_harness_push_event(h, gst_event_new_eos());
    out = gst_harness_try_pull(h);
  }
  if (!out) std::abort();  // every frame must come out
  GstVideoFrame fo;
  GstVideoInfo out_info = info;
  if (!gst_video_frame_map(&fo, &out_info, out, GST_MAP_READ)) std::abort();
  if (ps == 4) {
    const int extra = 6 - GST_VIDEO_INFO_COMP_POFFSET(&info, 0) - GST_VIDEO_INFO_COMP_POFFSET(&info, 1) -
                      GST_VIDEO_INFO_COMP_POFFSET(&info, 2);
    const auto* o = static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&fo, 0));
    const int ostride = GST_VIDEO_FRAME_PLANE_STRIDE(&fo, 0);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        if (o[y * ostride + x * 4 + extra] != static_cast<guint8>(original[y * stride + x * 4 + extra])) std::abort();
  }
  gst_video_frame_unmap(&fo);
  gst_buffer_unref(out);
  gst_harness_teardown(h);
  return 0;
}
