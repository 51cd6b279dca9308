// The device settings of a run: --deterministic, --fused-adam, --amp, as parsed, settled and
// decided; the CPU keeps today's behaviour whatever the CUDA settings say.
#include "trainer/train/options.h"
#include "trainer/train/run-mode.h"

#include "engine/device.h"
#include "trainer/train/train.h"

#include <gtest/gtest.h>

namespace cg {
namespace {

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

TrainOptions parsed(std::vector<std::string> args, std::map<std::string, bool>* given = nullptr) {
  CLI::App app;
  TrainOptions o;
  add_train_options(app, o);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  app.parse(args);
  if (given) *given = given_options(app);
  return o;
}

TEST(RunMode, OptionsParseAndDefault) {
  const auto d = parsed({});
  EXPECT_EQ(d.deterministic, "auto");
  EXPECT_EQ(d.fused_adam, "auto");
  EXPECT_EQ(d.amp, "off");
  const auto o = parsed({"--deterministic", "on", "--fused_adam", "off", "--amp", "bf16"});
  EXPECT_EQ(o.deterministic, "on");
  EXPECT_EQ(o.fused_adam, "off");
  EXPECT_EQ(o.amp, "bf16");
  EXPECT_EQ(o.to_map().at("amp"), "bf16");  // recorded in train_opt.txt and checkpoints
}

// On the command line as it is parsed, and in validate() for a value from a checkpoint.
TEST(RunMode, BadValuesAreRefusedByName) {
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"amp", "fp8"}, {"deterministic", "yes"}, {"fused_adam", "1"}}) {
    const std::string flag = key == "fused_adam" ? "--fused-adam" : "--" + key;
    try {
      parsed({"--dataroot", "x", flag, value});
      ADD_FAILURE() << flag << " " << value << " parsed";
    } catch (const CLI::ValidationError& e) {
      EXPECT_TRUE(contains(e.what(), flag + ": " + value)) << e.what();
    }
    TrainOptions o;
    o.dataroot = "x";
    set_option(o, key, value);
    try {
      o.validate();
      ADD_FAILURE() << flag << " " << value << " accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kUsage);
      EXPECT_TRUE(contains(e.what(), flag + ": " + value)) << e.what();
    }
  }
}

TEST(RunMode, AnExplicitSeedMakesCudaDeterministic) {
  std::map<std::string, bool> given;
  auto seeded = parsed({"--seed", "3"}, &given);
  settle_deterministic(seeded, given);
  EXPECT_EQ(seeded.deterministic, "on");
  auto unseeded = parsed({}, &given);
  settle_deterministic(unseeded, given);
  EXPECT_EQ(unseeded.deterministic, "off");
  auto forced = parsed({"--deterministic", "off", "--seed", "3"}, &given);
  settle_deterministic(forced, given);
  EXPECT_EQ(forced.deterministic, "off");  // the user's word wins
}

TEST(RunMode, CudaDecisions) {
  TrainOptions o;
  o.deterministic = "on";
  auto m = decide_run_mode(o, true);
  EXPECT_TRUE(m.deterministic);
  EXPECT_FALSE(m.cudnn_benchmark);
  EXPECT_TRUE(m.fused_adam);  // auto = on for CUDA
  EXPECT_TRUE(contains(m.describe(), "resume is exact")) << m.describe();
  o.deterministic = "off";
  m = decide_run_mode(o, true);
  EXPECT_FALSE(m.deterministic);
  EXPECT_TRUE(m.cudnn_benchmark);
  EXPECT_TRUE(contains(m.describe(), "not bitwise")) << m.describe();
  o.amp = "fp16";
  o.fused_adam = "off";
  m = decide_run_mode(o, true);
  EXPECT_EQ(m.amp, at::kHalf);
  EXPECT_TRUE(m.loss_scaling);
  EXPECT_FALSE(m.fused_adam);
  EXPECT_TRUE(contains(m.describe(), "fp16")) << m.describe();
}

TEST(RunMode, TheCpuStaysAsItWas) {
  TrainOptions o;
  for (const char* det : {"auto", "on", "off"}) {
    o.deterministic = det;
    const auto m = decide_run_mode(o, false);
    EXPECT_FALSE(m.deterministic || m.cudnn_benchmark || m.fused_adam || m.amp || m.loss_scaling) << det;
    EXPECT_TRUE(contains(m.describe(), "resume is exact (CPU)")) << m.describe();
  }
  o.fused_adam = "on";
  EXPECT_TRUE(decide_run_mode(o, false).fused_adam);
  o.amp = "bf16";
  EXPECT_EQ(decide_run_mode(o, false).amp, at::kBFloat16);
  // bf16 on a CPU without native bfloat16 is emulated and slow: the banner says so.
  EXPECT_EQ(contains(decide_run_mode(o, false).describe(), "warning: bf16 on this CPU"), !cpu_has_native_bf16());
}

TEST(RunMode, Fp16OnTheCpuIsRefused) {
  TrainOptions o;
  o.amp = "fp16";
  try {
    decide_run_mode(o, false);
    FAIL() << "fp16 accepted on the CPU";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_TRUE(contains(e.what(), "--amp fp16 needs CUDA")) << e.what();
  }
}

// A resume keeps the settled choice: the seed then comes from the checkpoint, not the command line.
TEST(RunMode, ResumeTakesTheCheckpointsChoice) {
  std::map<std::string, bool> given;
  auto o = parsed({"--continue-train"}, &given);
  TrainOptions saved;
  saved.deterministic = "on";
  saved.amp = "bf16";
  merge_checkpoint_options(o, given, saved.to_map(), 1, "ck.pt");
  settle_deterministic(o, given);
  EXPECT_EQ(o.deterministic, "on");
  EXPECT_EQ(o.amp, "bf16");
  auto overridden = parsed({"--continue-train", "--deterministic", "off"}, &given);
  merge_checkpoint_options(overridden, given, saved.to_map(), 1, "ck.pt");
  EXPECT_EQ(overridden.deterministic, "off");
}

}  // namespace
}  // namespace cg
