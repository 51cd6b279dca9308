// The engine's two runtimes: the native C++ forward built from the layer list for files with our
// metadata (G.pt, G.safetensors), and TorchScript's interpreter; they must give the same frames.
#include "engine/engine.h"
#include "model/generator-script.h"
#include "model/model-file.h"
#include "model/safetensors.h"
#include "tests/generator-helpers.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

#include <fstream>
#include <random>

namespace cg {
namespace {

struct Case {
  std::string name;
  GeneratorOptions o;
  bool batch_stats = false;
  int w, h;  // a frame size, not square and (but for the U-Net) not a multiple of the size rule
};

std::vector<Case> families() {
  const auto resnet = [](Norm n) {
    GeneratorOptions o;
    o.ngf = 4;
    o.n_blocks = 2;
    o.norm = n;
    return o;
  };
  std::vector<Case> f;
  f.push_back({"resnet-instance", resnet(Norm::kInstance), false, 30, 18});
  f.push_back({"resnet-batch", resnet(Norm::kBatch), false, 30, 18});
  f.push_back({"resnet-batch-frame-stats", resnet(Norm::kBatch), true, 30, 18});
  f.push_back({"resnet-none-dropout", resnet(Norm::kNone), false, 30, 18});
  f.back().o.use_dropout = true;
  f.push_back({"resnet-affine", resnet(Norm::kInstanceAffine), false, 30, 18});
  GeneratorOptions cut = resnet(Norm::kInstance);
  cut.antialias_down = cut.antialias_up = true;
  f.push_back({"cut", cut, false, 26, 14});
  GeneratorOptions nearest = resnet(Norm::kInstance);
  nearest.upsample_conv = true;
  f.push_back({"upsample-conv", nearest, false, 14, 26});
  GeneratorOptions mobile = resnet(Norm::kInstance);
  mobile.mobile = true;
  f.push_back({"mobile", mobile, false, 30, 18});
  // No full-resolution convolution: pixel_unshuffle before the first, pixel_shuffle after the last.
  GeneratorOptions s2d4 = mobile;
  s2d4.space_to_depth = 4;
  f.push_back({"s2d4-mobile", s2d4, false, 30, 18});
  GeneratorOptions s2d2 = resnet(Norm::kBatch);
  s2d2.space_to_depth = 2;
  f.push_back({"s2d2-batch", s2d2, false, 26, 14});
  GeneratorOptions unet = test::tiny_unet128();
  unet.use_dropout = true;
  f.push_back({"unet-batch", unet, false, 140, 128});
  f.push_back({"unet-batch-frame-stats", unet, true, 140, 128});
  return f;
}

// Noise on every parameter and statistic, so each one matters; eval mode.
Generator random_generator(const GeneratorOptions& o) {
  torch::manual_seed(11);
  Generator g(o);
  torch::NoGradGuard no_grad;
  for (auto& p : g->named_parameters()) p.value().normal_(p.key().find("weight") != std::string::npos ? 0.0 : 0.1, 0.3);
  for (auto& b : g->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.2);
  }
  g->eval();
  return g;
}

ModelMetadata metadata_of(const Case& f) {
  auto m = ModelMetadata::for_generator(f.o);
  m.batch_stats = f.batch_stats;
  return m;
}

// Two different random frames: a batch, so that batch norm's statistics could mix them.
std::vector<std::vector<uint8_t>> translate(const std::string& path, Runtime runtime, int w, int h,
                                            MemoryFormat format = MemoryFormat::kAuto, std::string* used = nullptr) {
  EngineOptions o;
  o.model_path = path;
  o.device = "cpu";
  o.runtime = runtime;
  o.memory_format = format;
  Engine e(o);
  if (used) *used = e.info().runtime;
  std::mt19937 rng(3);
  std::vector<std::vector<uint8_t>> frames(2, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3));
  for (auto& f : frames)
    for (auto& b : f) b = static_cast<uint8_t>(rng());
  std::vector<FrameView> views;
  for (auto& f : frames) views.push_back({f.data(), w, h, w * 3, 3, 0, 1, 2});
  e.process_batch(views.data(), views.data(), views.size());
  return frames;
}

int max_difference(const std::vector<std::vector<uint8_t>>& a, const std::vector<std::vector<uint8_t>>& b) {
  int d = 0;
  for (size_t f = 0; f < a.size(); ++f)
    for (size_t i = 0; i < a[f].size(); ++i) d = std::max(d, std::abs(int(a[f][i]) - int(b[f][i])));
  return d;
}

// The share of bytes that differ at all.
double share_differing(const std::vector<std::vector<uint8_t>>& a, const std::vector<std::vector<uint8_t>>& b) {
  size_t n = 0, differ = 0;
  for (size_t f = 0; f < a.size(); ++f)
    for (size_t i = 0; i < a[f].size(); ++i, ++n) differ += a[f][i] != b[f][i];
  return n ? double(differ) / double(n) : 0.0;
}

// Both runtimes call the same ATen operators on the same weights in the same order (the
// TorchScript is written from the same layer list, and the CPU has no fuser on), except that the
// native one runs a few-output convolution through direct_conv() where the CPU has AVX2 and FMA:
// its sums round differently (1e-6 relative), so now and then a byte lands one level away.
void expect_same_frames(const std::vector<std::vector<uint8_t>>& native,
                        const std::vector<std::vector<uint8_t>>& script, const std::string& what) {
  EXPECT_LE(max_difference(native, script), 1) << what;
  EXPECT_LE(share_differing(native, script), 0.01) << what;
}

TEST(EngineRuntime, NativeEqualsTorchScriptForEveryFamily) {
  test::TempDir dir;
  for (const auto& f : families()) {
    const std::string pt = dir / (f.name + ".pt");
    auto g = random_generator(f.o);
    save_generator(g, metadata_of(f), pt);
    for (MemoryFormat format : {MemoryFormat::kContiguous, MemoryFormat::kChannelsLast}) {
      std::string native_used, script_used;
      const auto native = translate(pt, Runtime::kNative, f.w, f.h, format, &native_used);
      const auto script = translate(pt, Runtime::kTorchScript, f.w, f.h, format, &script_used);
      EXPECT_EQ(native_used, "native");
      EXPECT_EQ(script_used, "torchscript");
      expect_same_frames(native, script, f.name + " " + memory_format_name(format));
    }
  }
}

// The frame-statistics mode is really per frame: the two frames of a batch come out as they do
// alone, and unlike the running-statistics file.
TEST(EngineRuntime, FrameStatisticsBatchNormFollowsTheMetadata) {
  test::TempDir dir;
  Case f = families()[2];
  ASSERT_TRUE(f.batch_stats);
  auto g = random_generator(f.o);
  save_generator(g, metadata_of(f), dir / "frame.pt");
  f.batch_stats = false;
  save_generator(g, metadata_of(f), dir / "running.pt");
  const auto frame = translate(dir / "frame.pt", Runtime::kNative, f.w, f.h);
  const auto running = translate(dir / "running.pt", Runtime::kNative, f.w, f.h);
  EXPECT_GT(max_difference(frame, running), 10);
}

TEST(EngineRuntime, AutoRunsOursNativelyAndForeignTorchScriptInTheInterpreter) {
  test::TempDir dir;
  const Case f = families()[0];
  auto g = random_generator(f.o);
  save_generator(g, metadata_of(f), dir / "ours.pt");
  auto foreign = generator_script(*g);
  foreign.save(dir / "foreign.pt");  // no metadata.json
  std::string used;
  const auto ours = translate(dir / "ours.pt", Runtime::kAuto, f.w, f.h, MemoryFormat::kAuto, &used);
  EXPECT_EQ(used, "native");
  const auto theirs = translate(dir / "foreign.pt", Runtime::kAuto, f.w, f.h, MemoryFormat::kAuto, &used);
  EXPECT_EQ(used, "torchscript");
  expect_same_frames(ours, theirs, "ours against foreign");
  try {
    translate(dir / "foreign.pt", Runtime::kNative, f.w, f.h);
    FAIL() << "runtime=native ran a file without metadata";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kModel);
    EXPECT_THAT(e.what(), ::testing::HasSubstr(dir / "foreign.pt"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("metadata"));
  }
}

TEST(EngineRuntime, ASafetensorsOfOursRunsAsItsGptDoes) {
  test::TempDir dir;
  for (const auto& f : {families()[2], families()[5], families()[8]}) {
    auto g = random_generator(f.o);
    save_generator(g, metadata_of(f), dir / (f.name + ".pt"));
    save_generator_safetensors(*g, metadata_of(f), dir / (f.name + ".safetensors"));
    const auto reference = translate(dir / (f.name + ".pt"), Runtime::kTorchScript, f.w, f.h);
    std::string used;
    expect_same_frames(translate(dir / (f.name + ".safetensors"), Runtime::kAuto, f.w, f.h, MemoryFormat::kAuto, &used),
                       reference, f.name);
    EXPECT_EQ(used, "native");
    // Scripted on loading: the same TorchScript a G.pt holds.
    EXPECT_EQ(max_difference(translate(dir / (f.name + ".safetensors"), Runtime::kTorchScript, f.w, f.h,
                                       MemoryFormat::kAuto, &used),
                             reference),
              0)
        << f.name;
    EXPECT_EQ(used, "torchscript");
  }
}

TEST(EngineRuntime, ASafetensorsWithoutOurMetadataIsRefusedNamingTheFile) {
  test::TempDir dir;
  auto g = random_generator(families()[0].o);
  NamedTensors tensors;
  for (const auto& t : state_tensors(*g)) tensors.emplace_back(t.key(), t.value());
  const std::string path = dir / "hub.safetensors";
  std::ofstream(path, std::ios::binary) << safetensors_bytes(tensors, {{"format", "pt"}});
  EngineOptions o;
  o.model_path = path;
  o.device = "cpu";
  try {
    Engine e(o);
    FAIL() << "a safetensors file without metadata was run";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kModel);
    EXPECT_THAT(e.what(), ::testing::HasSubstr(path + ": a safetensors file without cyclegan-gst metadata"));
    EXPECT_THAT(e.what(), ::testing::HasSubstr("cg-trainer export --from " + path));
  }
}

}  // namespace
}  // namespace cg
