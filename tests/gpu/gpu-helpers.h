// What the GPU suites (engine and element) share: a fixture that needs CUDA, and the default
// generator as a G.pt.
#pragma once

#include "model/model-file.h"
#include "model/official-import.h"
#include "tests/test-helpers.h"

#include <torch/cuda.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace cg::test {

// CI and the development machines have no GPU, so without CUDA these tests skip. The GPU check
// (scripts/device-check.sh) sets CG_REQUIRE_CUDA=1: there a missing or unseen GPU must fail the
// suite, not let it report "passed" with nothing of the CUDA paths run.
inline bool cuda_required() {
  const char* v = std::getenv("CG_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (torch::cuda::is_available()) return;
    // A fatal failure in SetUp keeps the test body from running.
    if (cuda_required()) FAIL() << "CG_REQUIRE_CUDA=1 but LibTorch sees no CUDA device";
    GTEST_SKIP() << "no CUDA device (set CG_REQUIRE_CUDA=1 to make this a failure)";
  }

  // The default generator (resnet_9blocks, ngf 64) from the g9.pth fixture, saved once per process.
  static std::string default_model() {
    static TempDir* dir = [] {
      auto* d = new TempDir();
      auto g = import_official_generator(fixture("g9.pth"));
      save_generator(g, ModelMetadata::for_generator(g->options()), (*d) / "G.pt");
      return d;
    }();
    return (*dir) / "G.pt";
  }
};

// Mean and largest |a - b| over the bytes of two frames, in 8-bit levels. Frames of different
// sizes are as far apart as bytes can be: a short output must not compare on its first bytes.
inline double mean_abs_levels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 255;
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / static_cast<double>(a.size());
}

inline int max_abs_levels(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size() || a.empty()) return 255;
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

}  // namespace cg::test
