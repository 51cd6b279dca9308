// The element with device=cuda in a GstHarness, its output bytes against the CPU engine's for the
// same frames (the CPU element gives the CPU engine's bytes exactly: tests/element): one frame
// after another, in batches of 4 with a short last one, after the warm-up that caps trigger at
// each size they give, and after batch-size changes while playing. Without a GPU it skips, unless
// CG_REQUIRE_CUDA=1 (the GPU check), where it fails. The engine's CUDA paths are tested without
// GStreamer in tests/engine/test-engine-gpu.cpp.
#include "engine/engine.h"
#include "tests/element/element-helpers.h"
#include "tests/gpu/gpu-helpers.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>

namespace cg {
namespace {

using ElementGpu = test::CudaTest;
using test::BufferPtr;
using test::Harness;

// A BGRA frame, the same for the same seed: gradients and edges such as the generator meets in
// real images (its instance norms see real statistics, not noise), some noise, and a random
// alpha, which the element must pass through untouched.
std::vector<uint8_t> frame(int w, int h, unsigned seed) {
  std::vector<uint8_t> bgra(static_cast<size_t>(w) * h * 4);
  std::mt19937 rng(seed);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &bgra[(static_cast<size_t>(y) * w + x) * 4];
      p[2] = static_cast<uint8_t>(x * 255 / w + seed * 40);
      p[1] = static_cast<uint8_t>(y * 255 / h);
      p[0] = static_cast<uint8_t>(((x / 8 + y / 8 + seed) % 2 ? 200 : 30) + rng() % 24);
      p[3] = static_cast<uint8_t>(rng());
    }
  return bgra;
}

GstBuffer* buffer_of(const std::vector<uint8_t>& bytes, int index) {
  GstBuffer* b = gst_buffer_new_allocate(nullptr, bytes.size(), nullptr);
  gst_buffer_fill(b, 0, bytes.data(), bytes.size());
  GST_BUFFER_PTS(b) = static_cast<GstClockTime>(index) * GST_SECOND / 30;
  return b;
}

std::vector<uint8_t> bytes_of(GstBuffer* b) {
  std::vector<uint8_t> bytes(gst_buffer_get_size(b));
  gst_buffer_extract(b, 0, bytes.data(), bytes.size());
  return bytes;
}

EngineOptions on_cpu(const std::string& model) {
  EngineOptions o;
  o.model_path = model;
  o.device = "cpu";
  return o;
}

// The CPU engine's fp32 translation of a BGRA frame: the reference the CUDA element must meet.
class CpuReference {
 public:
  explicit CpuReference(const std::string& model) : engine_(on_cpu(model)) {}
  std::vector<uint8_t> operator()(std::vector<uint8_t> bgra, int w, int h) {
    FrameView v{bgra.data(), w, h, w * 4, 4, 2, 1, 0};
    engine_.process(v, v);
    return bgra;
  }

 private:
  Engine engine_;
};

struct Difference {
  int max = 0;
  double mean = 0;  // in 8-bit levels, over R, G and B
};

// How far the R, G and B of two BGRA frames are apart. Their alpha must be equal to the input's:
// a difference there is a fault, not a rounding.
Difference rgb_difference(const std::vector<uint8_t>& got, const std::vector<uint8_t>& expected,
                          const std::vector<uint8_t>& input) {
  Difference d;
  if (got.size() != expected.size() || got.size() != input.size()) {
    ADD_FAILURE() << "sizes " << got.size() << ", " << expected.size() << " and input " << input.size();
    d.max = 256;
    return d;
  }
  int alpha_changed = 0;
  long sum = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (i % 4 == 3) {
      alpha_changed += got[i] != input[i];
      continue;
    }
    const int a = std::abs(int(got[i]) - int(expected[i]));
    d.max = std::max(d.max, a);
    sum += a;
  }
  EXPECT_EQ(alpha_changed, 0) << "alpha bytes changed";
  d.mean = static_cast<double>(sum) / static_cast<double>(got.size() / 4 * 3);
  return d;
}

// fp32 on CUDA with TF32 off (precision=fp32 turns it off) differs from the CPU only in the order
// of the sums and in cuDNN's choice of algorithm: relative differences around 1e-6 that can move a
// value across a rounding boundary by one level, and rarely two after nine residual blocks. A
// wrong frame, a frame of another index or untranslated input is tens of levels off on average.
void expect_fp32_close(const std::vector<uint8_t>& got, const std::vector<uint8_t>& expected,
                       const std::vector<uint8_t>& input, const std::string& what) {
  const Difference d = rgb_difference(got, expected, input);
  EXPECT_LE(d.max, 2) << what;
  EXPECT_LT(d.mean, 0.05) << what;
}

TEST_F(ElementGpu, Fp32FramesMatchTheCpuEngine) {
  const int w = 64, h = 48;
  CpuReference cpu(default_model());
  Harness hn("cyclegan device=cuda precision=fp32 model=" + default_model(), "BGRA", w, h);
  for (int i = 0; i < 5; ++i) {
    const auto in = frame(w, h, 10 + i);
    BufferPtr out = hn.push_and_pull(buffer_of(in, i));
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    const auto got = bytes_of(out.get()), expected = cpu(in, w, h);
    if (i == 0) {
      const Difference d = rgb_difference(got, expected, in);
      // The GPU check copies this line into its results.
      std::printf("element: mean |cuda fp32 - cpu fp32| in 8-bit levels: %.3f (max %d)\n", d.mean, d.max);
    }
    expect_fp32_close(got, expected, in, "frame " + std::to_string(i));
  }
}

TEST_F(ElementGpu, Fp16IsCloseToTheCpuEngine) {
  const int w = 64, h = 48;
  CpuReference cpu(default_model());
  Harness hn("cyclegan device=cuda precision=fp16 model=" + default_model(), "BGRA", w, h);
  const auto in = frame(w, h, 5);
  BufferPtr out = hn.push_and_pull(buffer_of(in, 0));
  ASSERT_TRUE(out != nullptr);
  const Difference d = rgb_difference(bytes_of(out.get()), cpu(in, w, h), in);
  std::printf("element: mean |cuda fp16 - cpu fp32| in 8-bit levels: %.3f (max %d)\n", d.mean, d.max);
  EXPECT_LT(d.mean, 2.0);  // the bound: fp16 within 2/255 of fp32 on average
}

// batch-size=4 holds frames and translates four at a time; 10 frames make two full batches and a
// short one of two, sent at EOS and padded on CUDA to the four frames warmed up for. Each frame
// must come out, in order, as batch-size=1 translates it alone.
TEST_F(ElementGpu, BatchOfFourMatchesSingleFramesWithAShortLastBatch) {
  const int w = 64, h = 48, n = 10;
  const std::string launch = "cyclegan device=cuda precision=fp32 model=" + default_model();
  std::vector<std::vector<uint8_t>> inputs, single;
  {
    Harness one(launch + " batch-size=1", "BGRA", w, h);
    for (int i = 0; i < n; ++i) {
      inputs.push_back(frame(w, h, 20 + i));
      BufferPtr out = one.push_and_pull(buffer_of(inputs.back(), i));
      ASSERT_TRUE(out != nullptr) << "batch-size 1, frame " << i;
      single.push_back(bytes_of(out.get()));
    }
  }
  Harness four(launch + " batch-size=4", "BGRA", w, h);
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(gst_harness_push(four.h, buffer_of(inputs[i], i)), GST_FLOW_OK) << "frame " << i;
    // Frames go out only as whole batches until EOS.
    EXPECT_EQ(gst_harness_buffers_in_queue(four.h), static_cast<guint>((i + 1) / 4 * 4)) << "after frame " << i;
  }
  ASSERT_TRUE(gst_harness_push_event(four.h, gst_event_new_eos()));
  ASSERT_EQ(gst_harness_buffers_in_queue(four.h), static_cast<guint>(n)) << "the short batch did not go out at EOS";
  CpuReference cpu(default_model());
  for (int i = 0; i < n; ++i) {
    BufferPtr out = four.pull();
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    EXPECT_EQ(GST_BUFFER_PTS(out.get()), static_cast<GstClockTime>(i) * GST_SECOND / 30) << "frame " << i;
    const auto got = bytes_of(out.get());
    // Same device and precision: only cuDNN's algorithm for 4 frames against 1 may differ, a
    // rounding that moves a byte by one level at most.
    const Difference d = rgb_difference(got, single[i], inputs[i]);
    EXPECT_LE(d.max, 1) << "frame " << i << " against batch-size 1";
    EXPECT_LT(d.mean, 0.05) << "frame " << i << " against batch-size 1";
    // And both are the translation, not the same wrong frame.
    expect_fp32_close(got, cpu(inputs[i], w, h), inputs[i], "frame " + std::to_string(i) + " against the CPU");
  }
  guint64 frames = 0;
  g_object_get(four.element().get(), "frames-processed", &frames, nullptr);
  EXPECT_EQ(frames, static_cast<guint64>(n));
}

// Caps reach the element before any frame and it warms up there (set_info), for their size and
// the batch size: the frames after it, at each size the caps announce, must still be the CPU's.
// Here the held frames of a partial batch go out at a caps change, at the old size, before the
// warm-up for the new one; the frames at the new size end in a short batch at EOS.
TEST_F(ElementGpu, WarmedUpAtCapsThenTranslatesEachSize) {
  CpuReference cpu(default_model());
  Harness hn("cyclegan device=cuda precision=fp32 batch-size=4 model=" + default_model(), "BGRA", 64, 48);
  struct Pushed {
    std::vector<uint8_t> in;
    int w, h;
  };
  std::vector<Pushed> pushed;
  auto push = [&](int w, int h) {
    const int i = static_cast<int>(pushed.size());
    pushed.push_back({frame(w, h, 40 + i), w, h});
    return gst_harness_push(hn.h, buffer_of(pushed.back().in, i));
  };
  for (int i = 0; i < 3; ++i) ASSERT_EQ(push(64, 48), GST_FLOW_OK);
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 0u);
  // Not a multiple of 4: the padding and cropping run after this warm-up too.
  gst_harness_set_src_caps_str(hn.h, test::caps_of("BGRA", 90, 62).c_str());
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 3u) << "the held frames did not go out before the new caps";
  for (int i = 0; i < 5; ++i) ASSERT_EQ(push(90, 62), GST_FLOW_OK);
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  ASSERT_EQ(gst_harness_buffers_in_queue(hn.h), pushed.size());
  for (size_t i = 0; i < pushed.size(); ++i) {
    BufferPtr out = hn.pull();
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    const auto& p = pushed[i];
    expect_fp32_close(bytes_of(out.get()), cpu(p.in, p.w, p.h), p.in,
                      "frame " + std::to_string(i) + " at " + std::to_string(p.w) + "x" + std::to_string(p.h));
  }
}

// With a variable framerate the element cannot report a batch's latency, so frames go one by one
// although batch-size is 4, and the warm-up at caps is for the one frame that runs: each frame
// must be the CPU's translation.
TEST_F(ElementGpu, VariableFramerateGoesFrameByFrame) {
  const int w = 64, h = 48;
  CpuReference cpu(default_model());
  Harness hn("cyclegan device=cuda precision=fp32 batch-size=4 model=" + default_model(),
             "video/x-raw,format=BGRA,width=64,height=48,framerate=0/1");
  for (int i = 0; i < 3; ++i) {
    const auto in = frame(w, h, 60 + i);
    BufferPtr out = hn.push_and_pull(buffer_of(in, i));
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    expect_fp32_close(bytes_of(out.get()), cpu(in, w, h), in, "frame " + std::to_string(i));
  }
}

// batch-size changed while playing warms the engine up again for the new batch: the frames after
// the change, a full batch of 2 and a short one at EOS, must still be the CPU's translation.
TEST_F(ElementGpu, BatchSizeChangedWhilePlaying) {
  const int w = 64, h = 48;
  CpuReference cpu(default_model());
  Harness hn("cyclegan device=cuda precision=fp32 batch-size=4 model=" + default_model(), "BGRA", w, h);
  std::vector<std::vector<uint8_t>> inputs;
  for (int i = 0; i < 7; ++i) {
    if (i == 4) g_object_set(hn.element().get(), "batch-size", 2u, nullptr);
    inputs.push_back(frame(w, h, 80 + i));
    ASSERT_EQ(gst_harness_push(hn.h, buffer_of(inputs.back(), i)), GST_FLOW_OK) << "frame " << i;
  }
  EXPECT_EQ(gst_harness_buffers_in_queue(hn.h), 6u) << "one batch of 4, then one of 2";
  ASSERT_TRUE(gst_harness_push_event(hn.h, gst_event_new_eos()));
  ASSERT_EQ(gst_harness_buffers_in_queue(hn.h), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    BufferPtr out = hn.pull();
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    expect_fp32_close(bytes_of(out.get()), cpu(inputs[i], w, h), inputs[i], "frame " + std::to_string(i));
  }
}

}  // namespace
}  // namespace cg
