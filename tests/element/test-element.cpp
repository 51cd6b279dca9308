// The cyclegan element through GstHarness and real pipelines, with a hermetic plugin path and
// registry (set by meson test). Its output is checked against the engine's direct output and
// against the Python reference's forward on the same frame.
#include "engine/engine.h"
#include "model/model-file.h"
#include "model/official-import.h"
#include "model/safetensors.h"
#include "tests/element/element-helpers.h"
#include "tests/test-helpers.h"
#include "tests/video/clips.h"

#include <gmock/gmock.h>
#include <gst/check/gstharness.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

namespace cg {
namespace {

using test::BufferPtr;
using test::caps_of;
using test::ErrorPtr;
using test::Harness;
using test::info_of;
using test::MessagePtr;
using test::ObjectPtr;
using ::testing::HasSubstr;

// Models exported once for the whole suite: A (resnet_6blocks, ngf 16) and B (2 blocks, ngf 8).
class Element : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir();
    auto a = import_official_generator(test::fixture("g6-ngf16-running-stats.pth"));
    save_generator(a, ModelMetadata::for_generator(a->options()), (*dir_) / "A.pt");
    save_generator_safetensors(*a, ModelMetadata::for_generator(a->options()), (*dir_) / "A.safetensors");
    auto b = import_official_generator(test::fixture("g2-ngf8-dropout.pth"));
    auto meta = ModelMetadata::for_generator(b->options());
    meta.crop_size = 64;
    save_generator(b, meta, (*dir_) / "B.pt");
    save_generator_safetensors(*b, meta, (*dir_) / "B.safetensors");
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string model(const char* name) { return (*dir_) / name; }
  static test::TempDir* dir_;
};
test::TempDir* Element::dir_ = nullptr;

// A frame with random bytes everywhere (alpha and padding included), seeded.
BufferPtr random_frame(const GstVideoInfo& info, unsigned seed) {
  BufferPtr buf(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr));
  GstMapInfo map;
  gst_buffer_map(buf.get(), &map, GST_MAP_WRITE);
  std::mt19937 rng(seed);
  for (gsize i = 0; i < map.size; ++i) map.data[i] = static_cast<guint8>(rng());
  gst_buffer_unmap(buf.get(), &map);
  return buf;
}

// Pixel (x, y) component c (0 R, 1 G, 2 B, 3 the fourth byte) of a mapped buffer.
struct Pixels {
  GstVideoFrame frame;
  bool mapped;
  Pixels(const GstVideoInfo& info, GstBuffer* buf) {
    GstVideoInfo copy = info;
    mapped = gst_video_frame_map(&frame, &copy, buf, GST_MAP_READ);
  }
  ~Pixels() {
    if (mapped) gst_video_frame_unmap(&frame);
  }
  guint8 at(int x, int y, int c) const {
    const auto* row =
        static_cast<const guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, 0)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&frame, 0);
    const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, 0);
    int offset;
    if (c < 3) {
      offset = GST_VIDEO_FRAME_COMP_POFFSET(&frame, c);
    } else {
      offset = 6 - GST_VIDEO_FRAME_COMP_POFFSET(&frame, 0) - GST_VIDEO_FRAME_COMP_POFFSET(&frame, 1) -
               GST_VIDEO_FRAME_COMP_POFFSET(&frame, 2);
    }
    return row[x * ps + offset];
  }
};

// What the engine makes of the R, G, B of `buf`: packed RGB bytes, width*height*3.
std::vector<uint8_t> engine_rgb(const std::string& model_path, const GstVideoInfo& info, GstBuffer* buf,
                                Runtime runtime = Runtime::kAuto) {
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  Pixels px(info, buf);
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) rgb[(static_cast<size_t>(y) * w + x) * 3 + c] = px.at(x, y, c);
  EngineOptions o;
  o.model_path = model_path;
  o.device = "cpu";
  o.runtime = runtime;
  Engine engine(o);
  FrameView v{rgb.data(), w, h, w * 3, 3, 0, 1, 2};
  engine.process(v, v);
  return rgb;
}

// Pushes one random frame; checks the output's RGB equals the engine's and the rest is untouched.
void check_format(const std::string& model_path, const char* format, int w, int h) {
  SCOPED_TRACE(std::string(format) + " " + std::to_string(w) + "x" + std::to_string(h));
  Harness hn("cyclegan device=cpu model=" + model_path, format, w, h);
  const auto& info = hn.info;
  BufferPtr in = random_frame(info, w * 131 + h);
  GST_BUFFER_PTS(in.get()) = 123 * GST_MSECOND;
  GST_BUFFER_DURATION(in.get()) = 33 * GST_MSECOND;
  const auto expected = engine_rgb(model_path, info, in.get());
  BufferPtr out = hn.push_and_pull(test::ref(in));
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(GST_BUFFER_PTS(out.get()), 123 * GST_MSECOND);
  EXPECT_EQ(GST_BUFFER_DURATION(out.get()), 33 * GST_MSECOND);
  {
    Pixels po(info, out.get()), pi(info, in.get());
    ASSERT_TRUE(po.mapped && pi.mapped);
    const bool four = GST_VIDEO_INFO_COMP_PSTRIDE(&info, 0) == 4;
    int wrong = 0, extra_changed = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        for (int c = 0; c < 3; ++c) wrong += po.at(x, y, c) != expected[(static_cast<size_t>(y) * w + x) * 3 + c];
        if (four) extra_changed += po.at(x, y, 3) != pi.at(x, y, 3);
      }
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(extra_changed, 0);
  }
}

TEST_F(Element, MatchesPythonReferenceOnAFrame) {
  const auto io = read_state_dict(test::fixture("g6-ngf16-frame.pth"));
  const auto frame = test::tensor_named(io, "frame");          // uint8 [38, 50, 3]
  const auto expected = test::tensor_named(io, "translated");  // the Python reference's bytes
  Harness hn("cyclegan device=cpu model=" + model("A.pt"), "RGB", 50, 38);
  const auto& info = hn.info;
  BufferPtr in(gst_buffer_new_allocate(nullptr, GST_VIDEO_INFO_SIZE(&info), nullptr));
  {
    GstVideoFrame f;
    ASSERT_TRUE(gst_video_frame_map(&f, &info, in.get(), GST_MAP_WRITE));
    for (int y = 0; y < 38; ++y)
      std::memcpy(static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0)) + y * GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0),
                  frame[y].data_ptr<uint8_t>(), 50 * 3);
    gst_video_frame_unmap(&f);
  }
  BufferPtr out = hn.push_and_pull(in.release());
  ASSERT_NE(out, nullptr);
  Pixels po(info, out.get());
  int max_diff = 0, differing = 0;
  for (int y = 0; y < 38; ++y)
    for (int x = 0; x < 50; ++x)
      for (int c = 0; c < 3; ++c) {
        const int d = std::abs(po.at(x, y, c) - expected[y][x][c].item<int>());
        max_diff = std::max(max_diff, d);
        differing += d > 0;
      }
  // Float rounding may flip a byte's rounding; nothing more.
  EXPECT_LE(max_diff, 1);
  EXPECT_LT(differing, 50 * 38 * 3 / 100);
}

TEST_F(Element, EveryFormatKeepsAlphaAndMatchesEngine) {
  for (const char* f : {"RGB", "BGR", "RGBx", "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR"})
    check_format(model("A.pt"), f, 36, 20);
}

TEST_F(Element, OddAndTinySizes) {
  check_format(model("A.pt"), "RGB", 250, 166);
  check_format(model("A.pt"), "RGBA", 1, 1);
  check_format(model("A.pt"), "BGR", 3, 2);
  check_format(model("A.pt"), "xBGR", 7, 13);
}

TEST_F(Element, ProcessSizeScalesInAndOut) {
  for (const char* size : {"model", "40x24"}) {
    SCOPED_TRACE(size);
    Harness hn("cyclegan device=cpu process-size=" + std::string(size) + " model=" + model("B.pt"), "RGBx", 90, 50);
    const auto& info = hn.info;
    BufferPtr out = hn.push_and_pull(random_frame(info, 5).release());
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(gst_buffer_get_size(out.get()), GST_VIDEO_INFO_SIZE(&info));
  }
}

TEST_F(Element, BypassPassesFramesUnchangedWhilePlaying) {
  Harness hn("cyclegan device=cpu model=" + model("A.pt"), "RGBA", 16, 12);
  const auto& info = hn.info;
  const auto e = hn.element();
  BufferPtr in = random_frame(info, 9);
  auto bytes = [](const BufferPtr& buf) {
    std::vector<guint8> v(buf ? gst_buffer_get_size(buf.get()) : 0);
    if (buf) gst_buffer_extract(buf.get(), 0, v.data(), v.size());
    return v;
  };
  const auto original = bytes(in);
  EXPECT_NE(bytes(hn.push_and_pull(test::ref(in))), original);
  g_object_set(e.get(), "bypass", TRUE, nullptr);
  EXPECT_EQ(bytes(hn.push_and_pull(test::ref(in))), original);
  g_object_set(e.get(), "bypass", FALSE, nullptr);
  EXPECT_NE(bytes(hn.push_and_pull(test::ref(in))), original);
}

TEST_F(Element, StatisticsCountFrames) {
  Harness hn("cyclegan device=cpu model=" + model("B.pt"), "RGB", 24, 16);
  const auto& info = hn.info;
  for (int i = 0; i < 3; ++i) ASSERT_NE(hn.push_and_pull(random_frame(info, i).release()), nullptr);
  guint64 frames = 0;
  double ms = 0;
  g_object_get(hn.element().get(), "frames-processed", &frames, "mean-inference-ms", &ms, nullptr);
  EXPECT_EQ(frames, 3u);
  EXPECT_GT(ms, 0.0);
}

// Pushes frames until the output equals `expected` (the new model's) or the time runs out.
bool output_becomes(Harness& hn, const GstVideoInfo& info, const BufferPtr& in, const std::vector<uint8_t>& expected,
                    int* frames_pushed) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  while (std::chrono::steady_clock::now() < deadline) {
    BufferPtr out = hn.push_and_pull(test::ref(in));
    ++*frames_pushed;
    if (!out) return false;
    bool same = true;
    {
      Pixels po(info, out.get());
      for (int y = 0; y < h && same; ++y)
        for (int x = 0; x < w && same; ++x)
          for (int c = 0; c < 3; ++c) same &= po.at(x, y, c) == expected[(static_cast<size_t>(y) * w + x) * 3 + c];
    }
    if (same) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

TEST_F(Element, ModelSwapWhilePlaying) {
  Harness hn("cyclegan device=cpu model=" + model("A.pt"), "RGB", 20, 16);
  const auto& info = hn.info;
  BufferPtr in = random_frame(info, 77);
  const auto out_a = engine_rgb(model("A.pt"), info, in.get());
  const auto out_b = engine_rgb(model("B.pt"), info, in.get());
  ASSERT_NE(out_a, out_b);
  int pushed = 0;
  ASSERT_TRUE(output_becomes(hn, info, in, out_a, &pushed));

  const auto e = hn.element();
  ObjectPtr<GstBus> bus(gst_bus_new());
  gst_element_set_bus(e.get(), bus.get());
  g_object_set(e.get(), "model", model("B.pt").c_str(), nullptr);
  pushed = 0;
  EXPECT_TRUE(output_becomes(hn, info, in, out_b, &pushed));  // every push gave a frame meanwhile

  // A failed load warns and keeps the running model.
  g_object_set(e.get(), "model", model("missing.pt").c_str(), nullptr);
  MessagePtr msg(gst_bus_timed_pop_filtered(bus.get(), 30 * GST_SECOND, GST_MESSAGE_WARNING));
  ASSERT_NE(msg, nullptr);
  GError* err = nullptr;
  gst_message_parse_warning(msg.get(), &err, nullptr);
  const ErrorPtr warning(err);
  EXPECT_THAT(warning->message, HasSubstr("missing.pt: no such file"));
  pushed = 0;
  EXPECT_TRUE(output_becomes(hn, info, in, out_b, &pushed));
  EXPECT_EQ(pushed, 1);
  gst_element_set_bus(e.get(), nullptr);
}

// A G.safetensors of ours plays, and swaps in while playing, giving the bytes its G.pt gives (both
// native; the engine's tests hold native to TorchScript).
TEST_F(Element, ASafetensorsModelRunsAsItsGpt) {
  Harness hn("cyclegan device=cpu model=" + model("A.safetensors"), "BGRx", 30, 22);
  const auto& info = hn.info;
  BufferPtr in = random_frame(info, 78);
  const auto out_a = engine_rgb(model("A.pt"), info, in.get(), Runtime::kNative);
  const auto out_b = engine_rgb(model("B.pt"), info, in.get(), Runtime::kNative);
  ASSERT_NE(out_a, out_b);
  int pushed = 0;
  ASSERT_TRUE(output_becomes(hn, info, in, out_a, &pushed));
  EXPECT_EQ(pushed, 1);
  g_object_set(hn.element().get(), "model", model("B.safetensors").c_str(), nullptr);
  EXPECT_TRUE(output_becomes(hn, info, in, out_b, &pushed));
}

// Runs `launch` to PAUSED and returns the error message posted, or "" if it started.
std::string start_error(const std::string& launch) {
  GError* perr = nullptr;
  ObjectPtr<GstElement> pipeline(gst_parse_launch(launch.c_str(), &perr));
  const ErrorPtr parse_error(perr);
  if (!pipeline) return "parse: " + std::string(parse_error ? parse_error->message : "failed");
  const auto ret = gst_element_set_state(pipeline.get(), GST_STATE_PAUSED);
  std::string message;
  if (ret == GST_STATE_CHANGE_FAILURE) {
    ObjectPtr<GstBus> bus(gst_element_get_bus(pipeline.get()));
    MessagePtr msg(gst_bus_timed_pop_filtered(bus.get(), 5 * GST_SECOND, GST_MESSAGE_ERROR));
    if (msg) {
      GError* err = nullptr;
      gst_message_parse_error(msg.get(), &err, nullptr);
      message = ErrorPtr(err)->message;
    } else {
      message = "(failed without an error message)";
    }
  }
  gst_element_set_state(pipeline.get(), GST_STATE_NULL);
  return message;
}

TEST_F(Element, ErrorsNameTheFileAndFailTheStart) {
  test::TempDir dir;
  {
    std::ofstream(dir / "corrupt.pt") << "not a zip";
    torch::jit::Module m("__torch__.Gray");
    m.define("def forward(self, x: Tensor) -> Tensor:\n    return x.mean(1, keepdim=True)\n");
    m.save(dir / "gray.pt");
  }
  {
    auto g = import_official_generator(test::fixture("g2-ngf8-dropout.pth"));
    NamedTensors tensors;
    for (const auto& t : state_tensors(*g)) tensors.emplace_back(t.key(), t.value());
    std::ofstream(dir / "hub.safetensors", std::ios::binary) << safetensors_bytes(tensors, {{"format", "pt"}});
  }
  const std::string src = "videotestsrc num-buffers=1 ! video/x-raw,format=RGB ! ";
  EXPECT_THAT(start_error(src + "cyclegan ! fakesink"), HasSubstr("No model given"));
  EXPECT_THAT(start_error(src + "cyclegan model=" + (dir / "hub.safetensors") + " ! fakesink"),
              HasSubstr("hub.safetensors: a safetensors file without cyclegan-gst metadata"));
  EXPECT_THAT(start_error(src + "cyclegan model=" + (dir / "none.pt") + " ! fakesink"),
              HasSubstr("none.pt: no such file"));
  EXPECT_THAT(start_error(src + "cyclegan model=" + (dir / "corrupt.pt") + " ! fakesink"),
              HasSubstr("corrupt.pt: not a loadable TorchScript model"));
  EXPECT_THAT(start_error(src + "cyclegan model=" + (dir / "gray.pt") + " ! fakesink"),
              HasSubstr("gray.pt: forward maps 1x3x8x8 to [1, 1, 8, 8]"));
  EXPECT_THAT(start_error(src + "cyclegan model=" + dir.path.string() + " ! fakesink"), HasSubstr("is a directory"));
  EXPECT_THAT(start_error(src + "cyclegan device=tpu model=" + model("A.pt") + " ! fakesink"),
              HasSubstr("invalid device 'tpu'"));
  EXPECT_THAT(start_error(src + "cyclegan device=cpu precision=fp16 model=" + model("A.pt") + " ! fakesink"),
              HasSubstr("fp16 needs a CUDA device"));
  const std::string cuda = start_error(src + "cyclegan device=cuda model=" + model("A.pt") + " ! fakesink");
  if (!cuda.empty()) {
    EXPECT_THAT(cuda, HasSubstr("no usable CUDA device"));
  }
  // device=auto falls back to the CPU and starts.
  EXPECT_EQ(start_error(src + "cyclegan device=auto model=" + model("A.pt") + " ! fakesink"), "");
}

TEST_F(Element, Bf16OnCpuStaysClose) {
  Harness hn("cyclegan device=cpu precision=bf16 model=" + model("A.pt"), "RGB", 24, 24);
  const auto& info = hn.info;
  BufferPtr in = random_frame(info, 3);
  const auto ref = engine_rgb(model("A.pt"), info, in.get());
  BufferPtr out = hn.push_and_pull(in.release());
  ASSERT_NE(out, nullptr);
  Pixels po(info, out.get());
  double sum = 0;
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c) sum += std::abs(po.at(x, y, c) - ref[(y * 24 + x) * 3 + c]);
  EXPECT_LT(sum / (24 * 24 * 3), 4.0);  // mean absolute difference in 8-bit levels
}

// Largest difference, in 8-bit levels, between the RGB of `out` and packed `expected`.
int max_rgb_difference(const GstVideoInfo& info, GstBuffer* out, const std::vector<uint8_t>& expected) {
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  Pixels po(info, out);
  if (!po.mapped) return 256;
  int worst = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        worst = std::max(worst, std::abs(po.at(x, y, c) - expected[(static_cast<size_t>(y) * w + x) * 3 + c]));
  return worst;
}

// tf32 and the memory format reach the engine: on the CPU tf32 is fp32 and both layouts compute
// the same frame, so the element still matches the default engine.
TEST_F(Element, Tf32AndMemoryFormatRunAsTheEngineDoes) {
  for (const char* props : {"precision=tf32 memory-format=contiguous", "memory-format=channels-last"}) {
    SCOPED_TRACE(props);
    Harness hn(std::string("cyclegan device=cpu ") + props + " model=" + model("A.pt"), "RGB", 20, 12);
    BufferPtr in = random_frame(hn.info, 8);
    const auto ref = engine_rgb(model("A.pt"), hn.info, in.get());
    BufferPtr out = hn.push_and_pull(in.release());
    ASSERT_NE(out, nullptr);
    EXPECT_LE(max_rgb_difference(hn.info, out.get(), ref), 1);
  }
  ObjectPtr<GstElement> element(GST_ELEMENT(gst_object_ref_sink(gst_element_factory_make("cyclegan", nullptr))));
  gst_util_set_object_arg(G_OBJECT(element.get()), "memory-format", "channels-last");
  gint value = -1;
  g_object_get(element.get(), "memory-format", &value, nullptr);
  EXPECT_EQ(value, static_cast<gint>(MemoryFormat::kChannelsLast));
}

// Either runtime gives the bytes of the G.pt's TorchScript, and the property reaches the engine:
// runtime=native refuses a TorchScript file without our metadata.
TEST_F(Element, RuntimePropertyChoosesWhatRunsTheGenerator) {
  const std::pair<const char*, const char*> cases[] = {{"native", "A.pt"}, {"torchscript", "A.safetensors"}};
  for (const auto& [runtime, file] : cases) {
    SCOPED_TRACE(file);
    Harness hn(std::string("cyclegan device=cpu runtime=") + runtime + " model=" + model(file), "RGB", 20, 12);
    BufferPtr in = random_frame(hn.info, 9);
    const auto ref = engine_rgb(model("A.pt"), hn.info, in.get(), Runtime::kTorchScript);
    BufferPtr out = hn.push_and_pull(in.release());
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(max_rgb_difference(hn.info, out.get(), ref), 0);
  }
  test::TempDir dir;
  torch::jit::load(model("A.pt")).save(dir / "foreign.pt");  // the same TorchScript, no metadata.json
  const std::string src = "videotestsrc num-buffers=1 ! video/x-raw,format=RGB ! ";
  EXPECT_THAT(start_error(src + "cyclegan device=cpu runtime=native model=" + (dir / "foreign.pt") + " ! fakesink"),
              HasSubstr("foreign.pt: runtime=native needs a model with cyclegan-gst metadata"));
  EXPECT_EQ(start_error(src + "cyclegan device=cpu model=" + (dir / "foreign.pt") + " ! fakesink"), "");
}

TEST(Engine, BatchMatchesSingleFramesAndRejectsMixedSizes) {
  test::TempDir dir;
  auto g = import_official_generator(test::fixture("g2-ngf8-dropout.pth"));
  save_generator(g, ModelMetadata::for_generator(g->options()), dir / "G.pt");
  EngineOptions o;
  o.model_path = dir / "G.pt";
  o.device = "cpu";
  Engine engine(o);
  const int w = 30, h = 22, n = 3;
  std::vector<std::vector<uint8_t>> single(n), batched(n), out(n);
  std::vector<FrameView> in_views, out_views;
  for (int i = 0; i < n; ++i) {
    std::mt19937 rng(i);
    single[i].resize(w * h * 4);
    for (auto& v : single[i]) v = static_cast<uint8_t>(rng());
    batched[i] = single[i];
    out[i].assign(w * h * 4, 7);
    in_views.push_back({batched[i].data(), w, h, w * 4, 4, 2, 1, 0});
    out_views.push_back({out[i].data(), w, h, w * 4, 4, 2, 1, 0});
  }
  engine.process_batch(in_views.data(), out_views.data(), n);
  for (int i = 0; i < n; ++i) {
    FrameView v{single[i].data(), w, h, w * 4, 4, 2, 1, 0};
    engine.process(v, v);  // in place; the fourth byte stays
    int worst = 0;
    for (size_t k = 0; k < single[i].size(); ++k) worst = std::max(worst, std::abs(single[i][k] - out[i][k]));
    EXPECT_LE(worst, 1) << "frame " << i;  // one forward of 3 frames vs 3 forwards: float rounding only
    EXPECT_NE(out[i], batched[i]) << "frame " << i;
  }
  std::vector<uint8_t> small(10 * 10 * 4);
  FrameView mixed[2] = {in_views[0], {small.data(), 10, 10, 40, 4, 2, 1, 0}};
  try {
    engine.process_batch(mixed, mixed, 2);
    ADD_FAILURE() << "mixed sizes accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("differ in size"));
  }
}

// parallel-frames calls one engine from several threads at once: on the CPU the passes run
// concurrently (no lock) on their own thread counts, and each gives what it gives alone, for both
// runtimes.
TEST(Engine, ConcurrentPassesGiveWhatSerialOnesGive) {
  test::TempDir dir;
  auto g = import_official_generator(test::fixture("g2-ngf8-dropout.pth"));
  save_generator(g, ModelMetadata::for_generator(g->options()), dir / "G.pt");
  for (Runtime runtime : {Runtime::kNative, Runtime::kTorchScript}) {
    SCOPED_TRACE(runtime_name(runtime));
    EngineOptions o;
    o.model_path = dir / "G.pt";
    o.device = "cpu";
    o.runtime = runtime;
    Engine engine(o);
    const int w = 36, h = 20, kThreads = 3, kRounds = 15;
    std::vector<std::vector<uint8_t>> in(kThreads), serial(kThreads);
    for (int t = 0; t < kThreads; ++t) {
      std::mt19937 rng(50 + t);
      in[t].resize(w * h * 3);
      for (auto& v : in[t]) v = static_cast<uint8_t>(rng());
      serial[t].assign(in[t].size(), 0);
      FrameView vi{in[t].data(), w, h, w * 3, 3, 0, 1, 2}, vo{serial[t].data(), w, h, w * 3, 3, 0, 1, 2};
      engine.process_batch(&vi, &vo, 1, 1);
    }
    std::atomic<int> wrong{0}, failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
      threads.emplace_back([&, t] {
        std::vector<uint8_t> out(in[t].size());
        for (int r = 0; r < kRounds; ++r) {
          FrameView vi{in[t].data(), w, h, w * 3, 3, 0, 1, 2}, vo{out.data(), w, h, w * 3, 3, 0, 1, 2};
          try {
            engine.process_batch(&vi, &vo, 1, 1);
          } catch (...) {
            ++failed;
          }
          wrong += out != serial[t];
        }
      });
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_EQ(wrong.load(), 0);
  }
}

// Min latency the element reports upstream of the harness's sink.
GstClockTime reported_latency(Harness& hn) {
  const test::MiniObjectPtr<GstQuery> q(gst_query_new_latency());
  GstClockTime min = GST_CLOCK_TIME_NONE;
  if (gst_pad_peer_query(hn.h->sinkpad, q.get())) gst_query_parse_latency(q.get(), nullptr, &min, nullptr);
  return min;
}

TEST_F(Element, BatchSizeHoldsFramesKeepsOrderAndFlushesOnEos) {
  Harness hn("cyclegan device=cpu batch-size=3 model=" + model("A.pt"), "BGRx", 40, 24);
  const auto& info = hn.info;
  EXPECT_EQ(reported_latency(hn), 2 * GST_SECOND / 30);  // two frames held at 30 fps
  const int n = 8;
  std::vector<BufferPtr> inputs;
  std::vector<std::vector<uint8_t>> expected;
  for (int i = 0; i < n; ++i) {
    BufferPtr in = random_frame(info, 100 + i);
    GST_BUFFER_PTS(in.get()) = i * GST_SECOND / 30;
    expected.push_back(engine_rgb(model("A.pt"), info, in.get()));
    inputs.push_back(std::move(in));
  }
  auto push = [&](int i) {
    ASSERT_EQ(gst_harness_push(hn.h, test::ref(inputs[i])), GST_FLOW_OK);
    // Copied on arrival: upstream has its buffer back at once, even while the frame is held.
    EXPECT_EQ(GST_MINI_OBJECT_REFCOUNT_VALUE(inputs[i].get()), 1) << "frame " << i;
  };
  push(0);
  push(1);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 0u);  // held until the batch is full
  push(2);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 3u);
  push(3);
  // A serialized event (a tag here) must not overtake the held frame: it goes out first.
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_tag(gst_tag_list_new(GST_TAG_TITLE, "t", nullptr))));
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 4u);
  for (int i = 4; i < 7; ++i) push(i);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 7u);
  push(7);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 7u);
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  ASSERT_EQ(gst_harness_buffers_in_queue(hn.h), 8u);  // the partial batch went out before EOS
  for (int i = 0; i < n; ++i) {
    BufferPtr out = hn.pull();
    ASSERT_NE(out, nullptr) << "frame " << i;
    EXPECT_EQ(GST_BUFFER_PTS(out.get()), i * GST_SECOND / 30);
    EXPECT_LE(max_rgb_difference(info, out.get(), expected[i]), 1) << "frame " << i;
  }
  guint64 frames = 0;
  g_object_get(hn.element().get(), "frames-processed", &frames, nullptr);
  EXPECT_EQ(frames, static_cast<guint64>(n));
}

// A live source marks its first buffer DISCONT, and GstBaseTransform keeps is_discont set until a
// frame leaves through generate_output, which a held frame does not: the element must react to
// each gap once, or it flushes every frame alone and batches never form in real pipelines.
TEST_F(Element, EachDiscontinuityFlushesOnceAndBatchesFormAfterIt) {
  Harness hn("cyclegan device=cpu batch-size=3 model=" + model("A.pt"), "BGRx", 40, 24);
  auto push = [&](int i, bool discont) {
    BufferPtr in = random_frame(hn.info, 200 + i);
    GST_BUFFER_PTS(in.get()) = i * GST_SECOND / 30;
    if (discont) GST_BUFFER_FLAG_SET(in.get(), GST_BUFFER_FLAG_DISCONT);
    return gst_harness_push(hn.h, in.release());
  };
  ASSERT_EQ(push(0, true), GST_FLOW_OK);
  ASSERT_EQ(push(1, false), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 0u);  // both held: the gap came before frame 0
  ASSERT_EQ(push(2, false), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 3u);
  ASSERT_EQ(push(3, false), GST_FLOW_OK);
  ASSERT_EQ(push(4, true), GST_FLOW_OK);  // a gap: frame 3 goes out alone, a batch starts at 4
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 4u);
  ASSERT_EQ(push(5, false), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 4u);
  ASSERT_EQ(push(6, false), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 7u);
  for (int i = 0; i < 7; ++i) {
    BufferPtr out = hn.pull();
    ASSERT_NE(out, nullptr) << "frame " << i;
    EXPECT_EQ(GST_BUFFER_PTS(out.get()), i * GST_SECOND / 30) << "frame " << i;
  }
}

TEST_F(Element, VariableFramerateIsNotBatched) {
  Harness hn("cyclegan device=cpu batch-size=4 model=" + model("B.pt"),
             "video/x-raw,format=RGB,width=16,height=12,framerate=0/1");
  ASSERT_EQ(gst_harness_push(hn.h, random_frame(hn.info, 2).release()), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 1u);  // no latency to report, so nothing is held
}

// Two copies of a frame, then bypass on and a third: the two come out translated, in order, then
// the third untouched. `model`: the element's; `held`: the two must still be held when bypass goes
// on (a batch).
void expect_frames_before_bypass_go_out_first(Harness& hn, const std::string& model, bool held) {
  const auto& info = hn.info;
  BufferPtr in = random_frame(info, 1);
  const auto translated = engine_rgb(model, info, in.get());
  auto push_copy = [&](int i) {
    GstBuffer* b = gst_buffer_copy(in.get());
    GST_BUFFER_PTS(b) = i * GST_MSECOND;
    return gst_harness_push(hn.h, b);
  };
  for (int i = 0; i < 2; ++i) ASSERT_EQ(push_copy(i), GST_FLOW_OK);
  if (held) {
    EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 0u);
  }
  g_object_set(hn.element().get(), "bypass", TRUE, nullptr);
  ASSERT_EQ(push_copy(2), GST_FLOW_OK);
  ASSERT_EQ(gst_harness_buffers_in_queue(hn.h), 3u);
  std::vector<uint8_t> original(gst_buffer_get_size(in.get())), got(original.size());
  gst_buffer_extract(in.get(), 0, original.data(), original.size());
  for (int i = 0; i < 3; ++i) {
    BufferPtr out = hn.pull();
    ASSERT_NE(out, nullptr) << "frame " << i;
    EXPECT_EQ(GST_BUFFER_PTS(out.get()), static_cast<GstClockTime>(i) * GST_MSECOND);
    if (i < 2) {
      EXPECT_LE(max_rgb_difference(info, out.get(), translated), 1) << "frame " << i;
    } else {
      gst_buffer_extract(out.get(), 0, got.data(), got.size());
      EXPECT_EQ(got, original);
    }
  }
}

TEST_F(Element, BypassReleasesHeldFramesInOrder) {
  Harness hn("cyclegan device=cpu batch-size=4 model=" + model("B.pt"), "RGB", 16, 12);
  const auto e = hn.element();
  expect_frames_before_bypass_go_out_first(hn, model("B.pt"), true);
  if (HasFatalFailure()) return;
  g_object_set(e.get(), "batch-size", 1u, nullptr);
  EXPECT_EQ(reported_latency(hn), 0u);
}

int run(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

TEST_F(Element, InspectAndLaunch) {
  // The command-line tools are not instrumented and cannot load a sanitized plugin.
  if (std::getenv("CG_SANITIZED")) GTEST_SKIP() << "sanitizer build";
  std::string out;
  {
    FILE* p = popen("gst-inspect-1.0 cyclegan 2>&1", "r");
    ASSERT_NE(p, nullptr);
    char buf[4096];
    while (size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(pclose(p), 0);
  }
  for (const char* s : {"Filter/Effect/Video", "model", "device", "precision", "threads", "process-size", "bypass",
                        "batch-size", "frames-processed", "mean-inference-ms", "Default: \"auto\""})
    EXPECT_THAT(out, HasSubstr(s));
  EXPECT_EQ(run("gst-launch-1.0 -q videotestsrc num-buffers=3 ! video/x-raw,width=64,height=48 ! videoconvert ! "
                "cyclegan model=" +
                model("B.pt") + " ! videoconvert ! fakesink"),
            0);
  EXPECT_NE(run("gst-launch-1.0 -q videotestsrc num-buffers=3 ! videoconvert ! cyclegan model=/nonexistent.pt ! "
                "fakesink"),
            0);
}

// A frame whose R, G, B are `rgb`'s and whose fourth byte (if any) is seeded noise.
BufferPtr frame_of_image(const GstVideoInfo& info, const cv::Mat& rgb, unsigned seed) {
  BufferPtr buf = random_frame(info, seed);
  GstVideoFrame f;
  GstVideoInfo copy = info;
  gst_video_frame_map(&f, &copy, buf.get(), GST_MAP_WRITE);
  auto* data = static_cast<guint8*>(GST_VIDEO_FRAME_PLANE_DATA(&f, 0));
  const int ps = GST_VIDEO_FRAME_COMP_PSTRIDE(&f, 0), stride = GST_VIDEO_FRAME_PLANE_STRIDE(&f, 0);
  for (int y = 0; y < rgb.rows; ++y)
    for (int x = 0; x < rgb.cols; ++x)
      for (int c = 0; c < 3; ++c)
        data[y * stride + x * ps + GST_VIDEO_FRAME_COMP_POFFSET(&f, c)] = rgb.at<cv::Vec3b>(y, x)[c];
  gst_video_frame_unmap(&f);
  return buf;
}

// Bytes of the output's R, G, B that differ from `expected` (packed RGB).
int differing(const GstVideoInfo& info, GstBuffer* out, const std::vector<uint8_t>& expected) {
  const int w = GST_VIDEO_INFO_WIDTH(&info), h = GST_VIDEO_INFO_HEIGHT(&info);
  Pixels po(info, out);
  int n = 0;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) n += po.at(x, y, c) != expected[(static_cast<size_t>(y) * w + x) * 3 + c];
  return n;
}

// A slow pan: the filter follows it, so the second frame's output is blended.
std::vector<cv::Mat> temporal_clip(int w, int h, int frames = 2) {
  return test::panning_clip(w, h, frames, 1.0, 0.5, 17);
}

// temporal=off (the default) is today's per-frame output, byte for byte; flow leaves the first
// frame alone, blends the next, and never touches the fourth byte.
TEST_F(Element, TemporalOffIsPerFrameAndFlowBlends) {
  const auto clip = temporal_clip(48, 32);
  for (const char* temporal : {"", " temporal=off", " temporal=flow"}) {
    SCOPED_TRACE(temporal);
    Harness hn("cyclegan device=cpu model=" + model("A.pt") + temporal, "BGRA", 48, 32);
    const auto& info = hn.info;
    std::vector<BufferPtr> in;
    for (size_t t = 0; t < clip.size(); ++t) in.push_back(frame_of_image(info, clip[t], 40 + t));
    const bool flow = std::string(temporal) == " temporal=flow";
    for (size_t t = 0; t < clip.size(); ++t) {
      const auto expected = engine_rgb(model("A.pt"), info, in[t].get());
      BufferPtr out = hn.push_and_pull(test::ref(in[t]));
      ASSERT_NE(out, nullptr);
      if (flow && t > 0)
        EXPECT_GT(differing(info, out.get(), expected), 0);
      else
        EXPECT_EQ(differing(info, out.get(), expected), 0);
      Pixels po(info, out.get()), pi(info, in[t].get());
      int alpha_changed = 0;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 48; ++x) alpha_changed += po.at(x, y, 3) != pi.at(x, y, 3);
      EXPECT_EQ(alpha_changed, 0);
    }
  }
}

// Whatever the filter carries is the frame just before, of this stream, size and model: after a
// seek (flush), new caps of another size and a model swap, the next output is the per-frame one.
TEST_F(Element, TemporalStartsAfreshAfterSeekCapsAndModelSwap) {
  const auto clip = temporal_clip(48, 32);
  Harness hn("cyclegan device=cpu temporal=flow temporal-strength=1 model=" + model("A.pt"), "RGB", 48, 32);
  const auto& info = hn.info;
  BufferPtr first = frame_of_image(info, clip[0], 1), second = frame_of_image(info, clip[1], 2);
  const auto per_frame = engine_rgb(model("A.pt"), info, second.get());
  ASSERT_NE(hn.push_and_pull(test::ref(first)), nullptr);
  {
    BufferPtr blended = hn.push_and_pull(test::ref(second));
    ASSERT_GT(differing(info, blended.get(), per_frame), 0);  // the filter is at work
  }
  // A seek: flush, then a new segment.
  ASSERT_NE(hn.push_and_pull(test::ref(first)), nullptr);
  gst_harness_push_event(hn.h, gst_event_new_flush_start());
  gst_harness_push_event(hn.h, gst_event_new_flush_stop(TRUE));
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  gst_harness_push_event(hn.h, gst_event_new_segment(&segment));
  {
    BufferPtr after_seek = hn.push_and_pull(test::ref(second));
    EXPECT_EQ(differing(info, after_seek.get(), per_frame), 0);
  }
  // New caps of another size: the previous frame is never read.
  ASSERT_NE(hn.push_and_pull(test::ref(first)), nullptr);
  gst_harness_set_src_caps_str(hn.h, test::caps_of("RGB", 40, 30).c_str());
  const GstVideoInfo small = test::info_of(test::caps_of("RGB", 40, 30));
  const auto small_clip = temporal_clip(40, 30);
  BufferPtr resized = frame_of_image(small, small_clip[1], 3);
  {
    BufferPtr out = hn.push_and_pull(test::ref(resized));
    EXPECT_EQ(differing(small, out.get(), engine_rgb(model("A.pt"), small, resized.get())), 0);
  }
  // A model swap: every output is A's or B's per-frame translation, never a blend of the two (with
  // strength 1 and a still input, a filter that kept A's last output would keep it for ever).
  gst_harness_push_event(hn.h, gst_event_new_flush_start());
  gst_harness_push_event(hn.h, gst_event_new_flush_stop(TRUE));
  gst_harness_push_event(hn.h, gst_event_new_segment(&segment));
  BufferPtr still = frame_of_image(small, small_clip[0], 4);
  const auto out_a = engine_rgb(model("A.pt"), small, still.get()),
             out_b = engine_rgb(model("B.pt"), small, still.get());
  ASSERT_EQ(differing(small, hn.push_and_pull(test::ref(still)).get(), out_a), 0);
  g_object_set(hn.element().get(), "model", model("B.pt").c_str(), nullptr);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool swapped = false;
  while (!swapped && std::chrono::steady_clock::now() < deadline) {
    BufferPtr out = hn.push_and_pull(test::ref(still));
    ASSERT_NE(out, nullptr);
    swapped = differing(small, out.get(), out_b) == 0;
    if (!swapped) {
      ASSERT_EQ(differing(small, out.get(), out_a), 0) << "a frame mixed the two models";
    }
  }
  EXPECT_TRUE(swapped);
}

// At most one level apart, on at most 0.1% of the bytes.
void expect_within_a_level(const std::vector<uint8_t>& got, const std::vector<uint8_t>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t differ = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_LE(std::abs(int(got[i]) - int(want[i])), 1) << what << ", byte " << i;
    differ += got[i] != want[i];
  }
  EXPECT_LE(differ * 1000, got.size()) << what;
}

// Batches blend their frames in order after the pass: batch-size 3 gives batch-size 1's frames,
// within one level on at most 0.1% of the bytes. (The engine gives a batch's frames the bytes it
// gives them alone; here one byte in 4608 of a batch's middle frame lands a level apart since the
// inference forward fuses instance norm, a rounding difference not yet traced.)
TEST_F(Element, TemporalWithBatchesBlendsInOrder) {
  const auto clip = temporal_clip(48, 32, 6);
  std::vector<std::vector<uint8_t>> single;
  for (guint batch : {1u, 3u}) {
    SCOPED_TRACE(batch);
    Harness hn("cyclegan device=cpu temporal=flow batch-size=" + std::to_string(batch) + " model=" + model("A.pt"),
               "RGB", 48, 32);
    const auto& info = hn.info;
    for (size_t t = 0; t < clip.size(); ++t)
      ASSERT_EQ(gst_harness_push(hn.h, frame_of_image(info, clip[t], 60 + t).release()), GST_FLOW_OK);
    for (size_t t = 0; t < clip.size(); ++t) {
      BufferPtr out = hn.pull();
      ASSERT_NE(out, nullptr);
      Pixels po(info, out.get());
      std::vector<uint8_t> rgb;
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 48; ++x)
          for (int c = 0; c < 3; ++c) rgb.push_back(po.at(x, y, c));
      if (batch == 1)
        single.push_back(rgb);
      else
        expect_within_a_level(rgb, single[t], "frame " + std::to_string(t));
    }
  }
}

// What a test compares of an output frame: every byte, the timestamps and the flags.
struct OutFrame {
  GstClockTime pts, dts, duration;
  guint flags;
  std::vector<uint8_t> bytes;
  bool operator==(const OutFrame& o) const {
    return pts == o.pts && dts == o.dts && duration == o.duration && flags == o.flags && bytes == o.bytes;
  }
};

OutFrame out_frame(GstBuffer* b) {
  OutFrame f{GST_BUFFER_PTS(b), GST_BUFFER_DTS(b), GST_BUFFER_DURATION(b), GST_BUFFER_FLAGS(b), {}};
  f.bytes.resize(gst_buffer_get_size(b));
  gst_buffer_extract(b, 0, f.bytes.data(), f.bytes.size());
  return f;
}

// Pushes `inputs` then EOS through `launch`; the frames that come out, in order, and the latency
// the element reported before the first frame.
std::vector<OutFrame> run_element(const std::string& launch, const std::string& caps,
                                  const std::vector<BufferPtr>& inputs, GstClockTime* latency = nullptr) {
  Harness hn(launch, caps);
  if (latency) *latency = reported_latency(hn);
  for (const BufferPtr& in : inputs) EXPECT_EQ(gst_harness_push(hn.h, test::ref(in)), GST_FLOW_OK);
  EXPECT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  std::vector<OutFrame> out;
  while (BufferPtr b{gst_harness_try_pull(hn.h)}) out.push_back(out_frame(b.get()));
  return out;
}

// Timestamps, durations and flags that differ from frame to frame, so that a frame that changed
// places or lost its metadata shows.
void stamp(GstBuffer* b, int i) {
  GST_BUFFER_PTS(b) = i * GST_SECOND / 30;
  GST_BUFFER_DTS(b) = i * GST_SECOND / 30 + 1;
  GST_BUFFER_DURATION(b) = GST_SECOND / 30 - i;
  if (i % 2) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_DELTA_UNIT);
  if (i % 3 == 0) GST_BUFFER_FLAG_SET(b, GST_BUFFER_FLAG_MARKER);
}

void expect_same_frames(const std::vector<OutFrame>& got, const std::vector<OutFrame>& expected) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].pts, expected[i].pts) << "frame " << i;
    EXPECT_EQ(got[i].duration, expected[i].duration) << "frame " << i;
    EXPECT_EQ(got[i].flags, expected[i].flags) << "frame " << i;
    EXPECT_TRUE(got[i].bytes == expected[i].bytes) << "frame " << i << " differs";
  }
}

// parallel-frames 2 and 3 give parallel-frames 1's frames byte for byte at the same thread count
// per frame (threads=2 split in two or three is one each), in order, with the same timestamps and
// flags; the latency query adds the N - 1 frames a frame may wait for; EOS drains every frame in
// flight. (LibTorch may round a few bytes a level apart on another thread count: threads=2 at
// parallel-frames 1 is compared within that.)
TEST_F(Element, ParallelFramesGiveTheSameFramesInOrder) {
  const std::string caps = caps_of("BGRx", 40, 24);
  const GstVideoInfo info = info_of(caps);
  std::vector<BufferPtr> in;
  for (int i = 0; i < 10; ++i) {
    in.push_back(random_frame(info, 300 + i));
    stamp(in.back().get(), i);
  }
  const std::string base = "cyclegan device=cpu model=" + model("A.pt");
  GstClockTime latency = 1;
  const auto one = run_element(base + " threads=1", caps, in, &latency);
  ASSERT_EQ(one.size(), in.size());
  EXPECT_EQ(latency, 0u);
  for (guint p : {2u, 3u}) {
    SCOPED_TRACE(p);
    const auto got = run_element(base + " threads=2 parallel-frames=" + std::to_string(p), caps, in, &latency);
    EXPECT_EQ(latency, (p - 1) * GST_SECOND / 30);
    expect_same_frames(got, one);
  }
  const auto two_threads = run_element(base + " threads=2", caps, in);
  ASSERT_EQ(two_threads.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    int worst = 0;
    for (size_t k = 0; k < one[i].bytes.size(); ++k)
      worst = std::max(worst, std::abs(one[i].bytes[k] - two_threads[i].bytes[k]));
    EXPECT_LE(worst, 1) << "frame " << i;
  }
}

// With batch-size B, passes of B frames run in parallel: the latency is B * N - 1 frames, and
// temporal=flow blends after the parallel step, in order, so the frames equal those of the same
// batches one pass at a time on the same threads per pass (a batch may differ from single frames
// by float rounding, see Engine.BatchMatchesSingleFramesAndRejectsMixedSizes; parallel frames
// change nothing).
TEST_F(Element, ParallelFramesCombineWithBatchesAndTemporal) {
  const auto clip = temporal_clip(48, 32, 8);
  const std::string caps = caps_of("RGB", 48, 32);
  const GstVideoInfo info = info_of(caps);
  std::vector<BufferPtr> in;
  for (size_t t = 0; t < clip.size(); ++t) {
    in.push_back(frame_of_image(info, clip[t], 80 + t));
    stamp(in.back().get(), static_cast<int>(t));
  }
  for (const char* temporal : {"off", "flow"}) {
    SCOPED_TRACE(temporal);
    const std::string base =
        "cyclegan device=cpu batch-size=2 temporal=" + std::string(temporal) + " model=" + model("A.pt");
    const auto one = run_element(base + " threads=1", caps, in);
    GstClockTime latency = 0;
    const auto got = run_element(base + " threads=2 parallel-frames=3", caps, in, &latency);
    EXPECT_EQ(latency, 5 * GST_SECOND / 30);
    expect_same_frames(got, one);
  }
}

// A flush (seek) drops the frames in flight: no crash, no hang, and what comes out afterwards is
// the new position's frames, in order.
TEST_F(Element, ParallelFramesFlushDropsFramesInFlight) {
  Harness hn("cyclegan device=cpu threads=2 parallel-frames=3 temporal=flow model=" + model("A.pt"), "RGB", 40, 24);
  GstSegment segment;
  gst_segment_init(&segment, GST_FORMAT_TIME);
  int pushed = 0;
  for (int round = 0; round < 6; ++round) {
    for (int k = 0; k < 1 + round % 4; ++k) {
      BufferPtr b = random_frame(hn.info, pushed);
      stamp(b.get(), pushed++);
      ASSERT_EQ(gst_harness_push(hn.h, b.release()), GST_FLOW_OK);
    }
    ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_flush_start()));
    ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_flush_stop(TRUE)));
    ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_segment(&segment)));
  }
  const int first_after = pushed;
  for (int k = 0; k < 4; ++k) {
    BufferPtr b = random_frame(hn.info, pushed);
    stamp(b.get(), pushed++);
    ASSERT_EQ(gst_harness_push(hn.h, b.release()), GST_FLOW_OK);
  }
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  std::vector<GstClockTime> pts;
  while (BufferPtr b{gst_harness_try_pull(hn.h)}) pts.push_back(GST_BUFFER_PTS(b.get()));
  ASSERT_GE(pts.size(), 4u);
  ASSERT_LE(pts.size(), static_cast<size_t>(pushed));
  for (size_t i = 1; i < pts.size(); ++i) EXPECT_LT(pts[i - 1], pts[i]) << "frame " << i << " out of order";
  for (int k = 0; k < 4; ++k)
    EXPECT_EQ(pts[pts.size() - 4 + k], (first_after + k) * GST_SECOND / 30) << "frame after the flush " << k;
}

TEST_F(Element, ParallelFramesGoOutBeforeBypassedOnes) {
  Harness hn("cyclegan device=cpu parallel-frames=3 model=" + model("B.pt"), "RGB", 16, 12);
  expect_frames_before_bypass_go_out_first(hn, model("B.pt"), false);
  if (HasFatalFailure()) return;
  g_object_set(hn.element().get(), "parallel-frames", 1u, nullptr);
  EXPECT_EQ(reported_latency(hn), 0u);
}

// Threads that stop translating end their OpenMP teams, which libgomp would count against the
// cores (every team then sleeps between layers instead of spinning, see engine/engine.cpp): the
// streaming thread's when parallel-frames goes up, the workers when it comes back to 1. A thread
// takes its creator's name, so this element's are counted by the name of the thread that streams.
TEST_F(Element, ParallelFramesLeaveNoIdleTeams) {
  std::thread([&] {
    const std::string name = "cg-teams-test";
    pthread_setname_np(pthread_self(), name.c_str());
    Harness hn("cyclegan device=cpu threads=2 model=" + model("A.pt"), "RGB", 64, 64);
    int pushed = 0;
    const auto push = [&](int n) {
      for (int k = 0; k < n; ++k) {
        BufferPtr b = random_frame(hn.info, pushed);
        stamp(b.get(), pushed++);
        ASSERT_EQ(gst_harness_push(hn.h, b.release()), GST_FLOW_OK);
      }
    };
    push(2);
    EXPECT_EQ(test::threads_named(name), 2) << "this thread and its team of one more";
    g_object_set(hn.element().get(), "parallel-frames", 2u, nullptr);
    push(4);
    EXPECT_EQ(test::settled_threads_named(name, 3), 3) << "this thread and two workers of one thread each";
    g_object_set(hn.element().get(), "parallel-frames", 1u, nullptr);
    push(2);
    EXPECT_EQ(test::settled_threads_named(name, 2), 2) << "the workers gone, this thread's team back";
    ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
    int out = 0;
    while (BufferPtr b{gst_harness_try_pull(hn.h)}) ++out;
    EXPECT_EQ(out, pushed);
  }).join();
}

// The README's property table is the one copy of the defaults outside the code: it must say what
// the ParamSpecs announce (their defaults come from plugin/settings.h).
TEST(ElementProperties, ReadmeTableStatesTheDefaultsAndRanges) {
  const char* regressions = std::getenv("CG_REGRESSIONS");
  ASSERT_NE(regressions, nullptr);
  std::ifstream readme(std::filesystem::path(regressions).parent_path().parent_path() / "README.md");
  ASSERT_TRUE(readme.good());
  ObjectPtr<GstElement> element(gst_element_factory_make("cyclegan", nullptr));
  ASSERT_TRUE(element);
  // | `name` | values (`default`) | what it does |
  const std::regex row(R"(^\| `([a-z-]+)` \| ([^|]*)\((`?)([^()`]*)\3\) \|)");
  int checked = 0;
  for (std::string line; std::getline(readme, line);) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    GParamSpec* spec = g_object_class_find_property(G_OBJECT_GET_CLASS(element.get()), m[1].str().c_str());
    ASSERT_NE(spec, nullptr) << "the README names a property the element lacks: " << m[1];
    const GValue* d = g_param_spec_get_default_value(spec);
    std::string stated = m[4].str(), actual;
    if (G_VALUE_HOLDS_STRING(d)) {
      actual = g_value_get_string(d) ? g_value_get_string(d) : "none";
    } else if (G_VALUE_HOLDS_ENUM(d)) {
      actual = g_enum_get_value(G_PARAM_SPEC_ENUM(spec)->enum_class, g_value_get_enum(d))->value_nick;
    } else if (G_VALUE_HOLDS_DOUBLE(d)) {
      const GParamSpecDouble* r = G_PARAM_SPEC_DOUBLE(spec);
      const auto text = [](double v) {
        std::ostringstream o;
        o << v;
        return o.str();
      };
      actual = text(g_value_get_double(d));
      EXPECT_THAT(m[2].str(), HasSubstr(text(r->minimum) + "–" + text(r->maximum))) << "range of " << m[1];
    } else if (G_VALUE_HOLDS_BOOLEAN(d)) {
      actual = g_value_get_boolean(d) ? "true" : "false";
    } else if (G_VALUE_HOLDS_UINT(d)) {
      const GParamSpecUInt* u = G_PARAM_SPEC_UINT(spec);
      actual = std::to_string(g_value_get_uint(d));
      EXPECT_THAT(m[2].str(), HasSubstr(std::to_string(u->minimum) + "–" + std::to_string(u->maximum)))
          << "range of " << m[1];
    }
    EXPECT_EQ(stated, actual) << "default of " << m[1];
    ++checked;
  }
  // Every property a user can set has its row: a new one fails here until the README has it.
  guint n = 0;
  GParamSpec** specs = g_object_class_list_properties(G_OBJECT_GET_CLASS(element.get()), &n);
  int settable = 0;
  for (guint i = 0; i < n; ++i)
    settable += (specs[i]->flags & G_PARAM_WRITABLE) && specs[i]->owner_type == G_OBJECT_TYPE(element.get());
  g_free(specs);
  EXPECT_EQ(checked, settable) << "the README's property table lists every settable property";
}

}  // namespace
}  // namespace cg

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  gst_init(&argc, &argv);
  return RUN_ALL_TESTS();
}
