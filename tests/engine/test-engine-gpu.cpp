// The engine's CUDA paths against its CPU path: each precision, each memory format, and batched
// against single frames.
// Without a GPU they skip, unless CG_REQUIRE_CUDA=1 (the GPU check), where they fail.
#include "engine/engine.h"
#include "tests/gpu/gpu-helpers.h"

#include <cstdio>
#include <random>
#include <string>
#include <vector>

namespace cg {
namespace {

using EngineGpu = test::CudaTest;

std::vector<uint8_t> random_frame(int w, int h, unsigned seed) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  std::mt19937 rng(seed);
  for (auto& b : rgb) b = static_cast<uint8_t>(rng());
  return rgb;
}

std::vector<uint8_t> translate(const std::string& model, const std::string& device, Precision p,
                               const std::vector<uint8_t>& rgb, int w, int h,
                               MemoryFormat format = MemoryFormat::kAuto) {
  EngineOptions o;
  o.model_path = model;
  o.device = device;
  o.precision = p;
  o.memory_format = format;
  Engine e(o);
  auto out = rgb;
  FrameView v{out.data(), w, h, w * 3, 3, 0, 1, 2};
  e.process(v, v);
  return out;
}

TEST_F(EngineGpu, EachPrecisionMatchesCpu) {
  // Not a multiple of 4, so the padding and cropping run on the GPU too.
  const int w = 202, h = 118;
  const auto rgb = random_frame(w, h, 4);
  const auto cpu = translate(default_model(), "cpu", Precision::kFP32, rgb, w, h);
  const auto fp32 = translate(default_model(), "cuda", Precision::kFP32, rgb, w, h);
  const auto tf32 = translate(default_model(), "cuda", Precision::kTF32, rgb, w, h);
  const auto fp16 = translate(default_model(), "cuda", Precision::kFP16, rgb, w, h);
  const auto bf16 = translate(default_model(), "cuda", Precision::kBF16, rgb, w, h);
  const double d32 = test::mean_abs_levels(cpu, fp32), dt = test::mean_abs_levels(cpu, tf32),
               d16 = test::mean_abs_levels(cpu, fp16), db = test::mean_abs_levels(cpu, bf16);
  // The GPU check copies this line into its results.
  std::printf("mean |cuda - cpu| in 8-bit levels: fp32 %.3f, tf32 %.3f, fp16 %.3f, bf16 %.3f\n", d32, dt, d16, db);
  RecordProperty("mean_abs_fp32", std::to_string(d32));
  RecordProperty("mean_abs_tf32", std::to_string(dt));
  RecordProperty("mean_abs_fp16", std::to_string(d16));
  RecordProperty("mean_abs_bf16", std::to_string(db));
  EXPECT_LT(d32, 0.05);  // IEEE fp32 on both: only the order of the sums differs
  EXPECT_LT(dt, 1.0);    // TF32 rounds the convolutions' inputs to 10-bit mantissas, as fp16 does
  EXPECT_LT(d16, 2.0);   // the bound: fp16 within 2/255 of fp32 on average
  EXPECT_LT(db, 4.0);    // bf16 keeps 8 bits of mantissa against fp16's 11
}

TEST_F(EngineGpu, MemoryFormatsAgree) {
  const int w = 96, h = 64;
  const auto rgb = random_frame(w, h, 6);
  for (Precision p : {Precision::kFP32, Precision::kFP16}) {
    const auto nchw = translate(default_model(), "cuda", p, rgb, w, h, MemoryFormat::kContiguous);
    const auto nhwc = translate(default_model(), "cuda", p, rgb, w, h, MemoryFormat::kChannelsLast);
    const double d = test::mean_abs_levels(nchw, nhwc);
    std::printf("mean |channels-last - contiguous| on cuda, %s: %.3f\n", precision_name(p), d);
    // Another cuDNN algorithm per layout: roundings, not levels (fp16 rounds each layer's output).
    EXPECT_LT(d, p == Precision::kFP32 ? 0.05 : 0.5) << precision_name(p);
  }
}

TEST_F(EngineGpu, BatchMatchesSingleFrames) {
  const int w = 64, h = 48, n = 4;
  for (Precision p : {Precision::kFP32, Precision::kFP16}) {
    EngineOptions o;
    o.model_path = default_model();
    o.device = "cuda";
    o.precision = p;
    Engine e(o);
    std::vector<std::vector<uint8_t>> single(n), batch(n);
    std::vector<FrameView> views;
    for (int i = 0; i < n; ++i) {
      single[i] = random_frame(w, h, 9 + i);
      batch[i] = single[i];
      views.push_back({batch[i].data(), w, h, w * 3, 3, 0, 1, 2});
    }
    e.process_batch(views.data(), views.data(), n);
    for (int i = 0; i < n; ++i) {
      FrameView v{single[i].data(), w, h, w * 3, 3, 0, 1, 2};
      e.process(v, v);
      // cuDNN may pick another algorithm for batch 4 than for 1: a rounding, not a level.
      EXPECT_LT(test::mean_abs_levels(single[i], batch[i]), 0.05) << precision_name(p) << ", frame " << i;
      // Agreeing on an untouched frame would prove nothing.
      EXPECT_GT(test::mean_abs_levels(batch[i], random_frame(w, h, 9 + i)), 10.0) << "frame " << i << " untranslated";
    }
  }
}

// After warm_up(w, h, 4) every batch is padded to 4 frames with frames the caller never sees: a
// single frame, a short batch, a full one, a longer one, and frames of a size the warm-up did not
// see must each still be the CPU's translation of that frame, not of a padding frame or a
// neighbour. fp32 with TF32 off differs from the CPU only in the order of sums and cuDNN's choice
// of algorithm: a rounding that moves a byte by a level, rarely two.
TEST_F(EngineGpu, AfterWarmUpEachBatchMatchesCpu) {
  EngineOptions o;
  o.model_path = default_model();
  o.device = "cpu";
  Engine cpu(o);
  o.device = "cuda";
  Engine cuda(o);
  cuda.warm_up(64, 48, 4);
  struct Case {
    int w, h, n;
  };
  const Case cases[] = {{64, 48, 1}, {64, 48, 2}, {64, 48, 4}, {64, 48, 6}, {90, 62, 1}, {90, 62, 3}};
  unsigned seed = 30;
  for (const auto& [w, h, n] : cases) {
    std::vector<std::vector<uint8_t>> input(n), got(n);
    std::vector<FrameView> views;
    for (int i = 0; i < n; ++i) {
      input[i] = random_frame(w, h, ++seed);
      got[i] = input[i];
      views.push_back({got[i].data(), w, h, w * 3, 3, 0, 1, 2});
    }
    cuda.process_batch(views.data(), views.data(), static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      auto expected = input[i];
      FrameView v{expected.data(), w, h, w * 3, 3, 0, 1, 2};
      cpu.process(v, v);
      const std::string what = std::to_string(w) + "x" + std::to_string(h) + ", batch of " + std::to_string(n) +
                               ", frame " + std::to_string(i);
      EXPECT_LE(test::max_abs_levels(got[i], expected), 2) << what;
      EXPECT_LT(test::mean_abs_levels(got[i], expected), 0.05) << what;
    }
  }
}

TEST_F(EngineGpu, ReportsTheCudaDevice) {
  EngineOptions o;
  o.model_path = default_model();
  o.device = "auto";
  Engine e(o);
  // device=auto must take the GPU when one is seen, not fall back to the CPU.
  EXPECT_EQ(e.info().device.rfind("cuda", 0), 0u) << e.info().device;
  EXPECT_TRUE(e.info().fallback_note.empty()) << e.info().fallback_note;
  std::printf("engine device: %s\n", e.info().device.c_str());
}

}  // namespace
}  // namespace cg
