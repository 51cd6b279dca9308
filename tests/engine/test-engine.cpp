// The engine on the CPU: settings errors, sub-batching under an element-count limit, warm-up.
#include "engine/device.h"
#include "engine/engine.h"
#include "model/generator-layout.h"
#include "model/model-file.h"
#include "model/official-import.h"
#include "model/torch-error.h"
#include "tests/generator-helpers.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

#include <pthread.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

namespace cg {
namespace {

GeneratorOptions fixture_options() { return import_official_generator(test::fixture("g9.pth"))->options(); }

std::string model_file() {
  static test::TempDir* dir = [] {
    auto* d = new test::TempDir();
    auto g = import_official_generator(test::fixture("g9.pth"));
    save_generator(g, ModelMetadata::for_generator(g->options()), (*d) / "G.pt");
    return d;
  }();
  return (*dir) / "G.pt";
}

EngineOptions cpu_options() {
  EngineOptions o;
  o.model_path = model_file();
  o.device = "cpu";
  return o;
}

struct Frames {
  int w, h;
  std::vector<std::vector<uint8_t>> data;
  Frames(int width, int height, int n, unsigned seed) : w(width), h(height), data(n) {
    std::mt19937 rng(seed);
    for (auto& f : data) {
      f.resize(static_cast<size_t>(w) * h * 3);
      for (auto& b : f) b = static_cast<uint8_t>(rng());
    }
  }
  std::vector<FrameView> views() {
    std::vector<FrameView> v;
    for (auto& f : data) v.push_back({f.data(), w, h, w * 3, 3, 0, 1, 2});
    return v;
  }
};

double mean_abs(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(int(a[i]) - int(b[i]));
  return s / static_cast<double>(a.size());
}

// Frames translated one by one: the reference for batches.
Frames one_by_one(Engine& e, Frames f) {
  for (auto& v : f.views()) e.process(v, v);
  return f;
}

int64_t per_frame_elements(int w, int h) { return largest_activation(generator_layers(fixture_options()), 3, h, w); }

TEST(Engine, Fp16OnTheCpuIsASettingsError) {
  EngineOptions o;
  o.model_path = model_file();
  o.device = "cpu";
  o.precision = Precision::kFP16;
  try {
    Engine e(o);
    FAIL() << "fp16 on the CPU was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kSettings);
    EXPECT_THAT(e.what(), ::testing::HasSubstr("fp16"));
  }
}

TEST(Engine, NamesParseAndBadNamesAreSettingsErrors) {
  EXPECT_EQ(parse_precision("tf32"), Precision::kTF32);
  EXPECT_EQ(parse_memory_format("channels-last"), MemoryFormat::kChannelsLast);
  for (auto bad : {"fp64", "FP32", ""}) {
    try {
      parse_precision(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kSettings);
      EXPECT_THAT(e.what(), ::testing::HasSubstr("fp32, tf32, fp16 or bf16"));
    }
  }
  EXPECT_THROW(parse_memory_format("nhwc"), Error);
}

// The thread that builds an engine forms no OpenMP team of its own (a second team in the process
// makes both sleep between layers instead of spinning); the thread that translates does, until
// it releases it.
TEST(Engine, BuildingStartsNoThreadsTranslatingDoes) {
  test::TempDir dir;
  GeneratorOptions g;
  g.ngf = 16;  // 64x64x3x3 trunk weights: over at::parallel_for's grain, so copying them is parallel
  g.n_blocks = 1;
  test::save_generator_of(g, dir / "G.pt");
  EngineOptions o;
  o.model_path = dir / "G.pt";
  o.device = "cpu";
  o.threads = 2;
  std::thread([&] {
    const std::string name = "cg-build-test";
    pthread_setname_np(pthread_self(), name.c_str());
    ASSERT_EQ(test::threads_named(name), 1);
    Engine engine(o);
    EXPECT_EQ(test::threads_named(name), 1);
    Frames frames(64, 64, 1, 3);
    auto v = frames.views();
    engine.process(v[0], v[0]);
    EXPECT_EQ(test::threads_named(name), 2);
    release_thread_team();
    EXPECT_EQ(test::settled_threads_named(name, 1), 1);
    engine.process(v[0], v[0]);  // a new team when it translates again
    EXPECT_EQ(test::threads_named(name), 2);
  }).join();
}

// The element-count limit (2^31 - 1 on CUDA) made small: a batch of 5 goes through in passes of
// at most 2 frames and gives what single frames give.
TEST(Engine, BatchesAreSplitUnderTheElementLimit) {
  Frames frames(32, 24, 5, 7);
  auto o = cpu_options();
  o.max_elements = 2 * per_frame_elements(32, 24) + 1;
  Engine limited(o);
  EXPECT_EQ(limited.frames_per_pass(32, 24), 2);
  Engine plain(cpu_options());
  EXPECT_GT(plain.frames_per_pass(32, 24), 1000000);
  const Frames reference = one_by_one(plain, frames);
  auto views = frames.views();
  limited.process_batch(views.data(), views.data(), views.size());
  for (size_t i = 0; i < frames.data.size(); ++i)
    EXPECT_LT(mean_abs(frames.data[i], reference.data[i]), 0.05) << "frame " << i;
}

TEST(Engine, AFrameOverTheLimitIsAClearErrorUnlessScaledDown) {
  Frames frames(64, 48, 1, 3);
  auto o = cpu_options();
  o.max_elements = per_frame_elements(64, 48) - 1;
  Engine e(o);
  EXPECT_EQ(e.frames_per_pass(64, 48), 0);
  auto v = frames.views();
  try {
    e.process(v[0], v[0]);
    FAIL() << "a frame over the limit was accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kRuntime);
    EXPECT_THAT(err.what(), ::testing::HasSubstr("64x48 frame is too large"));
    // The property that helps, by its name.
    EXPECT_THAT(err.what(), ::testing::HasSubstr("set process-size to a smaller WxH"));
  }
  o.process_width = 32;
  o.process_height = 24;
  Engine scaled(o);
  EXPECT_GE(scaled.frames_per_pass(64, 48), 1);
  scaled.process(v[0], v[0]);
}

TEST(Engine, MemoryFormatsGiveTheSameFrames) {
  Frames frames(40, 28, 1, 11);
  auto o = cpu_options();
  Engine automatic(o);
  EXPECT_EQ(automatic.info().memory_format, "channels-last");  // the CPU's choice
  o.memory_format = MemoryFormat::kContiguous;
  Engine contiguous(o);
  EXPECT_EQ(contiguous.info().memory_format, "contiguous");
  EXPECT_LT(mean_abs(one_by_one(automatic, frames).data[0], one_by_one(contiguous, frames).data[0]), 0.05);
}

// tf32 is a CUDA rounding mode; on the CPU it is fp32, to the bit, and says so.
TEST(Engine, Tf32OnTheCpuIsFp32) {
  Frames frames(32, 32, 1, 5);
  auto o = cpu_options();
  Engine fp32(o);
  o.precision = Precision::kTF32;
  Engine tf32(o);
  EXPECT_EQ(tf32.info().precision, "fp32 (tf32 is for CUDA)");
  EXPECT_EQ(one_by_one(fp32, frames).data[0], one_by_one(tf32, frames).data[0]);
}

TEST(Engine, Bf16OnACpuWithoutNativeSupportWarns) {
  auto o = cpu_options();
  o.precision = Precision::kBF16;
  Engine e(o);
  EXPECT_EQ(e.info().warning.empty(), cpu_has_native_bf16()) << e.info().warning;
  if (!cpu_has_native_bf16()) {
    EXPECT_THAT(e.info().warning, ::testing::HasSubstr("slower than fp32"));
  }
  Engine fp32(cpu_options());
  EXPECT_TRUE(fp32.info().warning.empty());
}

// A U-Net's frames must be multiples of 2^depth: the engine pads to its own model's rule, so a
// unet_128 runs on a frame of any size, and a frame of the right size gives the module's output.
TEST(Engine, UnetFramesArePaddedToItsSizeRule) {
  test::TempDir dir;
  const std::string path = dir / "unet.pt";
  auto g = test::save_generator_of(test::tiny_unet128(), path);
  auto o = cpu_options();
  o.model_path = path;
  Engine e(o);
  EXPECT_EQ(e.info().size_rule.multiple, 128);
  EXPECT_EQ(e.info().architecture, "unet_128");
  Frames odd(100, 70, 1, 5);
  const auto before = odd.data[0];
  for (auto& v : odd.views()) e.process(v, v);
  EXPECT_GT(mean_abs(before, odd.data[0]), 1.0);  // translated, in place, at its own size

  Frames exact(128, 256, 1, 6);
  auto x = torch::from_blob(exact.data[0].data(), {256, 128, 3}, torch::kByte)
               .permute({2, 0, 1})
               .unsqueeze(0)
               .to(torch::kFloat)
               .div(127.5)
               .sub(1);
  torch::NoGradGuard no_grad;
  const auto want = g->forward_reference(x).add(1).mul(127.5).round().clamp(0, 255).squeeze(0).permute({1, 2, 0});
  for (auto& v : exact.views()) e.process(v, v);
  const auto got = torch::from_blob(exact.data[0].data(), {256, 128, 3}, torch::kByte).to(torch::kFloat);
  EXPECT_LE((got - want).abs().max().item<double>(), 1.0);
}

// What a user reads when LibTorch fails inside the engine: running out of memory is said as
// such whatever was being done (loading a model, checking a precision), not blamed on the file
// or the setting; other failures keep the kind of the step.
TEST(Engine, FailuresKeepTheirKind) {
  const auto caught = [](auto&& raise, ErrorKind step) -> Error {
    try {
      try {
        raise();
      } catch (...) {
        rethrow_as_error(step, "G.pt");
      }
    } catch (const Error& e) {
      return e;
    }
    return Error(ErrorKind::kUsage, "nothing was thrown");
  };
  const Error oom =
      caught([] { TORCH_CHECK_WITH(OutOfMemoryError, false, "CUDA out of memory. Tried to allocate 2 GiB"); },
             ErrorKind::kModel);
  EXPECT_EQ(oom.kind(), ErrorKind::kOutOfMemory);
  EXPECT_THAT(oom.what(), ::testing::HasSubstr("G.pt: out of memory (CUDA out of memory. Tried to allocate 2 GiB"));
  const Error host = caught([] { throw std::bad_alloc(); }, ErrorKind::kSettings);
  EXPECT_EQ(host.kind(), ErrorKind::kOutOfMemory);
  EXPECT_THAT(host.what(), ::testing::HasSubstr("G.pt: out of host memory"));
  const Error torch_error = caught([] { TORCH_CHECK(false, "bad shape"); }, ErrorKind::kModel);
  EXPECT_EQ(torch_error.kind(), ErrorKind::kModel);
  EXPECT_THAT(torch_error.what(), ::testing::HasSubstr("G.pt: bad shape"));
  const Error ours = caught([] { throw Error(ErrorKind::kSettings, "device=cuda: no GPU"); }, ErrorKind::kModel);
  EXPECT_EQ(ours.kind(), ErrorKind::kSettings);
  EXPECT_STREQ(ours.what(), "device=cuda: no GPU");
}

// A device that is not there is a setting, named as such, not a model that could not load.
TEST(Engine, AMissingDeviceIsASettingNotAModel) {
  auto o = cpu_options();
  o.device = "cuda:7";
  if (torch::cuda::device_count() > 7) GTEST_SKIP() << "this machine has a cuda:7";
  try {
    Engine e(o);
    FAIL() << "cuda:7 was accepted";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::kSettings) << err.what();
    EXPECT_THAT(err.what(), ::testing::HasSubstr("cuda:7"));
  }
}

}  // namespace
}  // namespace cg
