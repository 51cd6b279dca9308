// CUDA paths: the engine on the GPU against the CPU at each precision, and the element with
// device=cuda. Skipped where LibTorch sees no GPU (the development machines and CI); run on a GPU
// machine by tests/gpu/run.sh.
#include "engine/engine.h"
#include "model/model-file.h"
#include "model/official-import.h"
#include "tests/test-helpers.h"

#include <gst/check/gstharness.h>
#include <torch/cuda.h>

#include <random>

namespace cg {
namespace {

class Gpu : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  }
  static std::string model() {
    static test::TempDir* dir = [] {
      auto* d = new test::TempDir();
      auto g = import_official_generator(test::fixture("g9.pth"));
      save_generator(g, ModelMetadata::for_generator(g->options()), (*d) / "G.pt");
      return d;
    }();
    return (*dir) / "G.pt";
  }
};

std::vector<uint8_t> translate(const std::string& model, const std::string& device, Precision p,
                               const std::vector<uint8_t>& rgb, int w, int h) {
  EngineOptions o;
  o.model_path = model;
  o.device = device;
  o.precision = p;
  Engine e(o);
  auto out = rgb;
  FrameView v{out.data(), w, h, w * 3, 3, 0, 1, 2};
  e.process(v, v);
  return out;
}

double mean_abs(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / a.size();
}

TEST_F(Gpu, EachPrecisionMatchesCpu) {
  const int w = 200, h = 120;
  std::vector<uint8_t> rgb(w * h * 3);
  std::mt19937 rng(4);
  for (auto& b : rgb) b = static_cast<uint8_t>(rng());
  const auto cpu = translate(model(), "cpu", Precision::kFP32, rgb, w, h);
  const auto fp32 = translate(model(), "cuda", Precision::kFP32, rgb, w, h);
  const auto fp16 = translate(model(), "cuda", Precision::kFP16, rgb, w, h);
  const auto bf16 = translate(model(), "cuda", Precision::kBF16, rgb, w, h);
  const double d32 = mean_abs(cpu, fp32), d16 = mean_abs(cpu, fp16), db = mean_abs(cpu, bf16);
  std::printf("mean |cuda - cpu| in 8-bit levels: fp32 %.3f, fp16 %.3f, bf16 %.3f\n", d32, d16, db);
  EXPECT_LT(d32, 0.05);  // TF32 convolutions may flip a rounding here and there
  EXPECT_LT(d16, 2.0);   // the bound: fp16 within 2/255 of fp32 on average
  EXPECT_LT(db, 4.0);
}

TEST_F(Gpu, BatchOnCudaMatchesSingleFrames) {
  const int w = 64, h = 48, n = 4;
  EngineOptions o;
  o.model_path = model();
  o.device = "cuda";
  Engine e(o);
  std::vector<std::vector<uint8_t>> single(n), batch(n);
  std::vector<FrameView> views;
  std::mt19937 rng(9);
  for (int i = 0; i < n; ++i) {
    single[i].resize(w * h * 3);
    for (auto& b : single[i]) b = static_cast<uint8_t>(rng());
    batch[i] = single[i];
    views.push_back({batch[i].data(), w, h, w * 3, 3, 0, 1, 2});
  }
  e.process_batch(views.data(), views.data(), n);
  for (int i = 0; i < n; ++i) {
    FrameView v{single[i].data(), w, h, w * 3, 3, 0, 1, 2};
    e.process(v, v);
    EXPECT_LT(mean_abs(single[i], batch[i]), 0.05) << "frame " << i;
  }
}

TEST_F(Gpu, ElementRunsOnCuda) {
  GstHarness* hn = gst_harness_new_parse(("cyclegan device=cuda precision=fp16 model=" + model()).c_str());
  gst_harness_set_src_caps_str(hn, "video/x-raw,format=BGRA,width=64,height=48,framerate=30/1");
  for (int i = 0; i < 3; ++i) {
    GstBuffer* out = gst_harness_push_and_pull(hn, gst_buffer_new_allocate(nullptr, 64 * 48 * 4, nullptr));
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(gst_buffer_get_size(out), 64u * 48 * 4);
    gst_buffer_unref(out);
  }
  gst_harness_teardown(hn);
}

}  // namespace
}  // namespace cg
