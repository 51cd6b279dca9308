// The element with device=cuda in a GstHarness: frames go through, and its fp16 output is close
// to its CPU output. Without a GPU it skips, unless CG_REQUIRE_CUDA=1 (the GPU check), where it
// fails. The engine's CUDA paths are tested without GStreamer in tests/engine/test-engine-gpu.cpp.
#include "tests/element/element-helpers.h"
#include "tests/gpu/gpu-helpers.h"

#include <cstdio>
#include <random>

namespace cg {
namespace {

using ElementGpu = test::CudaTest;

// The frame translated by an element made from `launch` (BGRA, w x h).
std::vector<uint8_t> through(const std::string& launch, const std::vector<uint8_t>& bgra, int w, int h) {
  test::Harness hn(launch, "BGRA", w, h);
  GstBuffer* in = gst_buffer_new_allocate(nullptr, bgra.size(), nullptr);
  gst_buffer_fill(in, 0, bgra.data(), bgra.size());
  test::BufferPtr out(gst_harness_push_and_pull(hn.h, in));
  if (!out) {
    ADD_FAILURE() << "no output buffer from " << launch;
    return {};
  }
  std::vector<uint8_t> bytes(gst_buffer_get_size(out.get()));
  gst_buffer_extract(out.get(), 0, bytes.data(), bytes.size());
  return bytes;
}

TEST_F(ElementGpu, RunsOnCudaAndMatchesCpu) {
  const int w = 64, h = 48;
  std::vector<uint8_t> bgra(static_cast<size_t>(w) * h * 4);
  std::mt19937 rng(5);
  for (auto& b : bgra) b = static_cast<uint8_t>(rng());
  const std::string model = " model=" + default_model();
  const auto cpu = through("cyclegan device=cpu" + model, bgra, w, h);
  const auto cuda = through("cyclegan device=cuda precision=fp16" + model, bgra, w, h);
  ASSERT_EQ(cpu.size(), bgra.size());
  ASSERT_EQ(cuda.size(), bgra.size());
  const double d = test::mean_abs_levels(cpu, cuda);
  std::printf("element: mean |cuda fp16 - cpu fp32| in 8-bit levels: %.3f\n", d);
  EXPECT_LT(d, 2.0);
  for (size_t i = 3; i < bgra.size(); i += 4) ASSERT_EQ(cuda[i], bgra[i]) << "alpha changed at byte " << i;
}

TEST_F(ElementGpu, KeepsStreamingOnCuda) {
  test::Harness hn("cyclegan device=cuda precision=fp16 model=" + default_model(), "BGRA", 64, 48);
  for (int i = 0; i < 5; ++i) {
    test::BufferPtr out(gst_harness_push_and_pull(hn.h, gst_buffer_new_allocate(nullptr, 64 * 48 * 4, nullptr)));
    ASSERT_TRUE(out != nullptr) << "frame " << i;
    EXPECT_EQ(gst_buffer_get_size(out.get()), 64u * 48 * 4);
  }
}

}  // namespace
}  // namespace cg
