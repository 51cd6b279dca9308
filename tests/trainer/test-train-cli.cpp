// End-to-end tests of cg-trainer train/test/synth/eval, run as a user runs them.
#include "trainer/report/report.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/cycle-gan.h"
#include "trainer/train/options.h"

#include "tests/generator-helpers.h"
#include "tests/trainer/model-helpers.h"
#include "tests/trainer/trainer-helpers.h"

#include <signal.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace cg {
namespace {

namespace fs = std::filesystem;
using test::CliResult;
using test::expect_identical;
using test::log_rows;
using test::run_trainer;
using test::TempDir;
using test::tiny_train_args;
using test::operator+;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Builds the model a checkpoint describes and loads it.
std::unique_ptr<CycleGan> load_model(const std::string& path, CheckpointInfo* info_out = nullptr) {
  const auto info = read_checkpoint_info(path);
  TrainOptions o;
  for (const auto& [k, v] : info.options) set_option(o, k, v);
  auto m = std::make_unique<CycleGan>(o, torch::kCPU, 0);
  auto loaded = load_checkpoint(path, *m);
  if (info_out) *info_out = loaded;
  return m;
}

const std::vector<std::string> kCycleGanLosses = {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"};

class TrainCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    data_ = test::make_synth(*dir_, 4, 40);  // 4 iterations per epoch
  }
  static void TearDownTestSuite() { delete dir_; }
  std::vector<std::string> args(const std::string& name) const {
    return tiny_train_args(data_, ck_.path.string(), name);
  }
  std::string exp(const std::string& name) const { return ck_ / name; }

  static TempDir* dir_;
  static std::string data_;
  TempDir ck_;
};
TempDir* TrainCli::dir_ = nullptr;
std::string TrainCli::data_;

// N + M iterations in one run == N, stop, resume, M: bitwise, across an epoch boundary, with a
// mid-epoch resume point.
TEST_F(TrainCli, ResumeIsExact) {
  auto whole = run_trainer(args("whole") + std::vector<std::string>{"--max-iters", "7"});
  ASSERT_EQ(whole.status, 0) << whole.output;
  EXPECT_TRUE(contains(whole.output, "fp32, Adam; resume is exact (CPU)")) << whole.output;
  auto first = run_trainer(args("split") + std::vector<std::string>{"--max-iters", "3"});
  ASSERT_EQ(first.status, 0) << first.output;
  EXPECT_TRUE(contains(first.output, "reached --max-iters 3")) << first.output;
  auto second = run_trainer(args("split") + std::vector<std::string>{"--max-iters", "7", "--continue-train"});
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_TRUE(contains(second.output, "resuming")) << second.output;

  CheckpointInfo iw, is;
  auto a = load_model(exp("whole") + "/latest_checkpoint.pt", &iw);
  auto b = load_model(exp("split") + "/latest_checkpoint.pt", &is);
  EXPECT_EQ(iw.state.total_iters, 7);
  EXPECT_EQ(is.state.total_iters, 7);
  EXPECT_EQ(is.state.epoch, 2);
  EXPECT_EQ(is.state.epoch_iter, 3);
  expect_identical(*a->G_A, *b->G_A, "G_A");
  expect_identical(*a->G_B, *b->G_B, "G_B");
  expect_identical(*a->D_A, *b->D_A, "D_A");
  expect_identical(*a->D_B, *b->D_B, "D_B");
  // The logs agree loss for loss, and the resumed log has each iteration once.
  const auto rw = log_rows(exp("whole"), kCycleGanLosses), rs = log_rows(exp("split"), kCycleGanLosses);
  ASSERT_EQ(rw.size(), 7u);
  ASSERT_EQ(rs.size(), 7u);
  for (size_t i = 0; i < rw.size(); ++i) {
    EXPECT_EQ(rs[i].total_iters, static_cast<int64_t>(i + 1));
    EXPECT_EQ(rw[i].losses.values, rs[i].losses.values) << "iteration " << i + 1;
  }
  // Every save exports both generators.
  EXPECT_TRUE(fs::exists(exp("split") + "/G_A.pt"));
  EXPECT_TRUE(fs::exists(exp("split") + "/G_B.pt"));
  std::ifstream opt_txt(exp("split") + "/train_opt.txt");
  std::stringstream opt_text;
  opt_text << opt_txt.rdbuf();
  // --seed was given: a CUDA run would have been deterministic, and a resume there stays so.
  EXPECT_TRUE(contains(opt_text.str(), "deterministic: on")) << opt_text.str();
  EXPECT_TRUE(fs::exists(exp("split") + "/web/index.html"));
  EXPECT_TRUE(fs::exists(exp("split") + "/web/images/epoch001_fake_B.png"));
  EXPECT_TRUE(fs::exists(exp("split") + "/loss_curve.png"));
}

TEST_F(TrainCli, CrashDuringSaveKeepsThePreviousCheckpoint) {
  ASSERT_EQ(run_trainer(args("c") + std::vector<std::string>{"--max-iters", "2"}).status, 0);
  auto crash = run_trainer(args("c") + std::vector<std::string>{"--max-iters", "3", "--continue-train"},
                           {"CG_TEST_CRASH_DURING_SAVE=1"});
  EXPECT_EQ(crash.status, -SIGKILL) << crash.output;
  bool partial = false;
  for (const auto& e : fs::directory_iterator(exp("c")))
    partial |= contains(e.path().filename().string(), ".latest_checkpoint.pt.tmp");
  EXPECT_TRUE(partial) << "the simulated crash should leave a half-written temporary file";
  CheckpointInfo info;
  ASSERT_NO_THROW(load_model(exp("c") + "/latest_checkpoint.pt", &info));
  EXPECT_EQ(info.state.total_iters, 2);
  auto resumed = run_trainer(args("c") + std::vector<std::string>{"--max-iters", "3", "--continue-train"});
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_EQ(read_checkpoint_info(exp("c") + "/latest_checkpoint.pt").state.total_iters, 3);
  // The killed run had logged iteration 3 before dying; the resumed log has it once.
  const auto rows = log_rows(exp("c"), kCycleGanLosses);
  ASSERT_EQ(rows.size(), 3u);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].total_iters, static_cast<int64_t>(i + 1));
  for (const auto& e : fs::directory_iterator(exp("c"))) EXPECT_FALSE(contains(e.path().filename().string(), ".tmp"));
}

TEST_F(TrainCli, ContradictingOptionsAreRefused) {
  ASSERT_EQ(run_trainer(args("x") + std::vector<std::string>{"--max-iters", "1"}).status, 0);
  auto r = run_trainer(args("x") + std::vector<std::string>{"--continue-train", "--ngf", "8", "--crop_size", "28"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "contradict")) << r.output;
  EXPECT_TRUE(contains(r.output, "--ngf 8 (the checkpoint has 4)")) << r.output;
  EXPECT_TRUE(contains(r.output, "--crop_size 28 (the checkpoint has 32)")) << r.output;
  auto e = run_trainer(args("x") + std::vector<std::string>{"--continue-train", "--epoch_count", "5"});
  EXPECT_EQ(e.status, 1) << e.output;
  EXPECT_TRUE(contains(e.output, "resumes at epoch 1")) << e.output;
  // Without the options, a resume takes them all from the checkpoint (the dataroot included).
  auto plain = run_trainer({"train", "--checkpoints-dir", ck_.path.string(), "--name", "x", "--continue-train",
                            "--max-iters", "2", "--threads", "1", "--device", "cpu"});
  ASSERT_EQ(plain.status, 0) << plain.output;
  const auto info = read_checkpoint_info(exp("x") + "/latest_checkpoint.pt");
  EXPECT_EQ(info.state.total_iters, 2);
  EXPECT_EQ(info.options.at("ngf"), "4");
  EXPECT_EQ(info.options.at("netG"), "resnet_1blocks");
  EXPECT_EQ(info.options.at("dataroot"), data_);
}

TEST_F(TrainCli, BadInputGetsAClearMessage) {
  struct Case {
    std::vector<std::string> argv;
    std::string message;
  };
  TempDir d;
  fs::create_directories(d / "empty/trainA");
  fs::create_directories(d / "empty/trainB");
  fs::copy_file(data_ + "/trainA/00000.png", d / "empty/trainA/00000.png");
  fs::create_directories(d / "junk/trainA");
  fs::create_directories(d / "junk/trainB");
  fs::copy_file(data_ + "/trainA/00000.png", d / "junk/trainA/00000.png");
  std::ofstream(d / "junk/trainB/broken.jpg") << "not a jpeg";
  const std::string ck = ck_.path.string();
  auto train_on = [&](const std::string& root) { return tiny_train_args(root, ck, "bad"); };
  const std::vector<Case> cases = {
      {train_on(d / "missing"), d / "missing"},
      {train_on(d / "empty"), "trainB: no images"},
      {train_on(d / "junk"), "trainB: none of its 1 images could be read"},
      {train_on(data_) + std::vector<std::string>{"--continue-train"}, "no checkpoint"},
      {train_on(data_) + std::vector<std::string>{"--netG", "unet_64"}, "--netG unet_64 is not supported"},
      {train_on(data_) + std::vector<std::string>{"--netD", "patch"},
       "--netD: patch is not one of basic, n_layers, pixel"},
      {train_on(data_) + std::vector<std::string>{"--norm", "group"},
       "--norm: group is not one of instance, batch, none"},
      {train_on(data_) + std::vector<std::string>{"--gan-mode", "hinge"},
       "--gan-mode: hinge is not one of lsgan, vanilla, wgangp"},
      {train_on(data_) + std::vector<std::string>{"--gan-mode", "wgangp", "--amp", "fp16"},
       "--gan-mode wgangp does not work with --amp fp16"},
      {train_on(data_) + std::vector<std::string>{"--lr-policy", "foo"},
       "--lr-policy: foo is not one of linear, step, plateau, cosine"},
      {train_on(data_) + std::vector<std::string>{"--lr-policy", "step", "--lr-decay-iters", "0"},
       "--lr-decay-iters: 0 is out of range: it must be at least 1"},
      {train_on(data_) + std::vector<std::string>{"--preprocess", "zoom"}, "--preprocess: zoom is not one of"},
      {train_on(data_) + std::vector<std::string>{"--load-size", "16"},
       "--load-size (16) must be at least --crop-size (32)"},
      {train_on(data_) + std::vector<std::string>{"--device", "cuda:99"}, "cuda"},
      {train_on(data_) + std::vector<std::string>{"--amp", "fp16"}, "--amp fp16 needs CUDA"},
      {train_on(data_) + std::vector<std::string>{"--amp", "fp8"}, "--amp: fp8 is not one of off, bf16, fp16"},
      {{"train", "--checkpoints-dir", ck}, "--dataroot is required"},
      {{"test", "--model", d / "none.pt", "--input", data_ + "/testA", "--output", d / "out"}, "none.pt: no such file"},
      {{"eval", "--dataroot", d / "empty", "--model-a", d / "a.pt", "--model-b", d / "b.pt", "--device", "cpu"},
       "testA"},
  };
  for (const auto& c : cases) {
    const auto r = run_trainer(c.argv);
    EXPECT_NE(r.status, 0) << c.message;
    EXPECT_GT(r.status, 0) << "crashed: " << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << "expected '" << c.message << "' in:\n" << r.output;
    EXPECT_FALSE(contains(r.output, "terminate called")) << r.output;
  }
  // An unwritable checkpoint folder: a file stands where the folder should be.
  std::ofstream(d / "blocker") << "x";
  const auto r = run_trainer(tiny_train_args(data_, d / "blocker", "n"));
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "cannot create the checkpoint folder")) << r.output;
}

// A crop that is a multiple of 4 but not of the generator's rule is refused with the rule, before
// the experiment's folder is made.
TEST_F(TrainCli, CropOutsideTheGeneratorsRuleIsRefusedFirst) {
  const auto r = run_trainer(args("rule") +
                             std::vector<std::string>{"--netG", "unet_128", "--load-size", "72", "--crop-size", "64"});
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "cg-trainer: error: --netG unet_128 takes image sides that are " +
                                     size_rule(test::tiny_unet128()).describe() + "; --crop-size 64 is not"))
      << r.output;
  EXPECT_FALSE(fs::exists(exp("rule"))) << "the refused run made its folder";
}

// Files test and eval cannot write are I/O errors that name the file and the system's reason.
TEST_F(TrainCli, UnwritableOutputsNameTheFileAndTheReason) {
  TempDir d;
  GeneratorOptions g;
  g.n_blocks = 1;
  g.ngf = 4;
  const std::string model = d / "G.pt";
  test::save_generator_of(g, model);
  std::ofstream(d / "file") << "x";
  fs::create_directories(d / "out/00000.png");  // a folder where an output image goes
  struct Case {
    std::vector<std::string> argv;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"test", "--model", model, "--input", data_ + "/testA", "--output", d / "file/out", "--device", "cpu"},
       (d / "file/out") + ": cannot create the output folder (" + std::strerror(ENOTDIR) + ")"},
      {{"test", "--model", model, "--input", data_ + "/testA", "--output", d / "out", "--device", "cpu"},
       (d / "out/00000.png") + ": cannot write (" + std::strerror(EISDIR) + ")"},
      {{"eval", "--dataroot", data_, "--model-a", model, "--model-b", model, "--device", "cpu", "--json",
        d / "file/scores.json"},
       (d / "file/scores.json") + ": cannot write (" + std::strerror(ENOTDIR) + ")"},
  };
  for (const auto& c : cases) {
    const auto r = run_trainer(c.argv);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(contains(r.output, "cg-trainer: error: " + c.message)) << "expected '" << c.message << "' in:\n"
                                                                       << r.output;
  }
}

TEST_F(TrainCli, CorruptImagesAreSkippedWithAWarning) {
  TempDir d;
  fs::copy(data_, d / "data", fs::copy_options::recursive);
  std::ofstream(d / "data/trainA/00002-broken.png") << "truncated";
  auto r = run_trainer(tiny_train_args(d / "data", ck_.path.string(), "corrupt") +
                       std::vector<std::string>{"--max-iters", "5"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(
      contains(r.output, "warning: skipped " + (d / "data/trainA/00002-broken.png") + " (unreadable or corrupt"))
      << r.output;
  EXPECT_TRUE(contains(r.output, "1 unreadable or corrupt image(s) skipped so far")) << r.output;
}

// The official snake_case spellings work, train_opt.txt records them, and --epoch-count shifts
// the schedule: the first epoch of a run with epoch_count 3, n_epochs 2, n_epochs_decay 2 is
// absolute epoch 3, at lr * (1 - 1/3).
TEST_F(TrainCli, SnakeCaseAndEpochCount) {
  auto r = run_trainer(args("s") + std::vector<std::string>{"--n_epochs", "2", "--n_epochs_decay", "2", "--epoch_count",
                                                            "3", "--lambda_A", "9", "--max-iters", "5"});
  ASSERT_EQ(r.status, 0) << r.output;
  std::ifstream opt(exp("s") + "/train_opt.txt");
  std::stringstream text;
  text << opt.rdbuf();
  EXPECT_TRUE(contains(text.str(), "n_epochs: 2")) << text.str();
  EXPECT_TRUE(contains(text.str(), "lambda_A: 9")) << text.str();
  const auto rows = log_rows(exp("s"), kCycleGanLosses);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].epoch, 3);
  EXPECT_NEAR(rows[0].lr, 2e-4 * (1 - 1.0 / 3), 1e-10);
  EXPECT_EQ(rows[4].epoch, 4);
  EXPECT_NEAR(rows[4].lr, 2e-4 * (1 - 2.0 / 3), 1e-10);
}

// --lr-policy step follows the official epoch convention: the run's e-th epoch is after e - 1
// scheduler steps, whatever --epoch-count is. --dropout turns the generators' dropout on.
TEST_F(TrainCli, StepPolicyAndDropout) {
  auto r = run_trainer(args("step") + std::vector<std::string>{
                                          "--lr-policy", "step", "--lr-decay-iters", "1", "--epoch_count", "3",
                                          "--n_epochs", "2", "--n_epochs_decay", "2", "--max-iters", "5", "--dropout"});
  ASSERT_EQ(r.status, 0) << r.output;
  const auto rows = log_rows(exp("step"), kCycleGanLosses);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].epoch, 3);
  EXPECT_NEAR(rows[0].lr, 2e-4, 1e-12);
  EXPECT_EQ(rows[4].epoch, 4);
  EXPECT_NEAR(rows[4].lr, 2e-5, 1e-12);
  const auto m = load_model(exp("step") + "/latest_checkpoint.pt");
  EXPECT_TRUE(m->G_A->options().use_dropout);
  const auto info = read_checkpoint_info(exp("step") + "/latest_checkpoint.pt");
  EXPECT_EQ(info.options.at("no_dropout"), "false");
  EXPECT_EQ(info.options.at("lr_policy"), "step");
}

// Exact resume with the options that keep state or draw numbers of their own: the plateau
// policy's best, bad-epoch count and factor, and the epoch's loss sums so far (resumed mid-epoch);
// the wgangp gradient penalty's random mixing weights; the random motions of --lambda-temporal;
// batch-norm running statistics. Two image
// pairs in a fixed order at a tiny lr make the epoch's generator loss all but constant, so the
// plateau policy cuts the lr after epoch 7 (6 epochs without a 1% gain).
TEST(TrainResume, PlateauWganPixelBatchNormIsExact) {
  TempDir d;
  const std::string data = test::make_synth(d, 2, 32);
  auto args = [&](const std::string& name) {
    return tiny_train_args(data, d / "ck", name) + std::vector<std::string>{"--preprocess",
                                                                            "none",
                                                                            "--no-flip",
                                                                            "--serial-batches",
                                                                            "--lr",
                                                                            "1e-6",
                                                                            "--lr-policy",
                                                                            "plateau",
                                                                            "--n-epochs",
                                                                            "5",
                                                                            "--n-epochs-decay",
                                                                            "4",
                                                                            "--gan-mode",
                                                                            "wgangp",
                                                                            "--netD",
                                                                            "pixel",
                                                                            "--norm",
                                                                            "batch",
                                                                            "--lambda-temporal",
                                                                            "10"};
  };
  auto whole = run_trainer(args("whole"));
  ASSERT_EQ(whole.status, 0) << whole.output;
  EXPECT_TRUE(contains(whole.output, "lr-policy plateau: no 1% improvement")) << whole.output;
  ASSERT_EQ(run_trainer(args("split") + std::vector<std::string>{"--max-iters", "7"}).status, 0);
  const auto mid = read_checkpoint_info(d / "ck/split/latest_checkpoint.pt").state;
  EXPECT_EQ(mid.epoch, 4);
  EXPECT_EQ(mid.epoch_iter, 1);
  EXPECT_EQ(mid.epoch_loss_count, 1);
  EXPECT_EQ(mid.epoch_loss_sums.size(), 10u);
  EXPECT_EQ(mid.plateau.factor, 1.0);
  EXPECT_EQ(mid.plateau.bad_epochs, 2);
  auto second = run_trainer(args("split") + std::vector<std::string>{"--continue-train"});
  ASSERT_EQ(second.status, 0) << second.output;

  CheckpointInfo iw, is;
  auto a = load_model(d / "ck/whole/latest_checkpoint.pt", &iw);
  auto b = load_model(d / "ck/split/latest_checkpoint.pt", &is);
  EXPECT_EQ(is.state.total_iters, 18);
  const auto na = a->networks(), nb = b->networks();
  for (size_t i = 0; i < na.size(); ++i) {
    expect_identical(*na[i].second, *nb[i].second, na[i].first);
    const auto ba = na[i].second->named_buffers(), bb = nb[i].second->named_buffers();
    for (const auto& x : ba) EXPECT_TRUE(x.value().equal(bb[x.key()])) << na[i].first << " " << x.key();
  }
  EXPECT_EQ(a->D_A->named_buffers().size(), 3u) << "pixel D with batch norm";
  EXPECT_EQ(iw.state.plateau.factor, 0.2);
  EXPECT_EQ(is.state.plateau.factor, 0.2);
  EXPECT_EQ(is.state.plateau.bad_epochs, 2);
  EXPECT_EQ(is.state.plateau.best, iw.state.plateau.best);
  auto names = kCycleGanLosses;
  names.insert(names.end(), {"temporal_A", "temporal_B"});
  const auto rw = log_rows(d / "ck/whole", names), rs = log_rows(d / "ck/split", names);
  ASSERT_EQ(rw.size(), 18u);
  ASSERT_EQ(rs.size(), 18u);
  for (size_t i = 0; i < rw.size(); ++i) {
    EXPECT_EQ(rw[i].losses.values, rs[i].losses.values) << "iteration " << i + 1;
    EXPECT_NEAR(rs[i].lr, rs[i].epoch <= 7 ? 1e-6 : 2e-7, 1e-15) << "iteration " << i + 1;
  }
}

// cycle_gan with the pix2pix generator: U-Net generators train with any norm, their G.pt files
// record the U-Net and its size rule, and a crop the U-Net cannot take is refused before training.
TEST_F(TrainCli, UnetGeneratorsTrain) {
  std::vector<std::string> a =
      args("unet") + std::vector<std::string>{"--netG", "unet_128", "--norm", "none", "--ngf", "4", "--max-iters", "2"};
  const auto refused = run_trainer(a);
  EXPECT_GT(refused.status, 0) << refused.output;
  EXPECT_TRUE(contains(refused.output, "multiples of 128")) << refused.output;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "--crop-size" || a[i] == "--load-size") a[i + 1] = "128";
  const auto r = run_trainer(a);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto info = run_trainer({"info", exp("unet") + "/G_A.pt"});
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_TRUE(contains(info.output, "generator: unet_128, none norm")) << info.output;
  EXPECT_TRUE(contains(info.output, "frames padded to multiples of 128")) << info.output;
}

TEST_F(TrainCli, SigtermSavesAndExitsCleanly) {
  // Run in the background and stop it once it reports an iteration.
  auto a = args("sig") + std::vector<std::string>{"--max-iters", "100000"};
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    std::vector<char*> argv;
    std::string exe = test::trainer_path();
    argv.push_back(exe.data());
    for (auto& s : a) argv.push_back(s.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  std::string out;
  char buf[4096];
  bool signalled = false;
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    if (!signalled && contains(out, "iter 2/")) {
      ::kill(pid, SIGTERM);
      signalled = true;
    }
  }
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(signalled) << out;
  ASSERT_TRUE(WIFEXITED(st)) << out;
  EXPECT_EQ(WEXITSTATUS(st), 0) << out;
  EXPECT_TRUE(contains(out, "interrupted by SIGTERM")) << out;
  const auto info = read_checkpoint_info(exp("sig") + "/latest_checkpoint.pt");
  EXPECT_GE(info.state.total_iters, 2);
}

// Each training command lists every option it takes with its default, and none of the other's.
TEST(TrainHelp, ListsEveryOptionWithItsDefault) {
  for (const auto& [command, name] : {std::pair{Command::kTrain, "train"}, std::pair{Command::kDistill, "distill"}}) {
    const auto r = run_trainer({name, "--help"});
    ASSERT_EQ(r.status, 0) << r.output;
    TrainOptions registered;
    CLI::App app;
    add_train_options(app, registered, command);
    size_t taken = 0;
    for (const auto& [key, value] : TrainOptions().to_map()) {
      std::string kebab = key;
      for (auto& c : kebab)
        if (c == '_') c = '-';
      if (!app.get_option_no_throw("--" + kebab)) {
        EXPECT_FALSE(contains(r.output, "--" + kebab + " ")) << name << " lists " << key;
        continue;
      }
      ++taken;
      EXPECT_TRUE(contains(r.output, "--" + kebab)) << name << " " << key;
      if (key.find('_') != std::string::npos) {
        EXPECT_TRUE(contains(r.output, "--" + key)) << name << " " << key;
      }
      // CLI11 shows no default for a flag; --no-dropout's help says it is on by default.
      const bool flag = value == "false" || value == "true";
      if (!flag && !value.empty() && value != "inf") {
        EXPECT_TRUE(contains(r.output, "=" + value)) << name << " " << key << " default " << value;
      }
    }
    EXPECT_GT(taken, 40u) << name;
  }
  // Each command's own options.
  const auto train = run_trainer({"train", "--help"}), distill = run_trainer({"distill", "--help"});
  EXPECT_TRUE(contains(train.output, "--lambda-A")) << train.output;
  EXPECT_FALSE(contains(train.output, "--teacher")) << train.output;
  EXPECT_TRUE(contains(distill.output, "--teacher")) << distill.output;
  EXPECT_TRUE(contains(distill.output, "--student-ngf")) << distill.output;
  EXPECT_FALSE(contains(distill.output, "--lambda-A")) << distill.output;
  EXPECT_FALSE(contains(distill.output, "--netG")) << distill.output;
}

// A short run on the synthetic task: both generators clearly beat returning the input.
TEST(TrainAndEval, ShortRunBeatsTheIdentityBaseline) {
  TempDir d;
  const std::string data = test::make_synth(d, 40, 64, 8, 3);
  auto r = run_trainer({"train", "--dataroot", data, "--checkpoints-dir", d / "ck", "--name", "syn", "--netG",
                        "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--preprocess", "none", "--n-epochs", "1",
                        "--n-epochs-decay", "1", "--seed", "1", "--device", "cpu",
                        // One compute thread: OpenMP's spinning threads slow to a crawl when the
                        // cores are shared with other tests or builds.
                        "--threads", "1"});
  ASSERT_EQ(r.status, 0) << r.output;
  auto e = run_trainer({"eval", "--dataroot", data, "--checkpoints-dir", d / "ck", "--name", "syn", "--device", "cpu",
                        "--json", d / "scores.json"});
  ASSERT_EQ(e.status, 0) << e.output;
  std::ifstream in(d / "scores.json");
  const auto s = nlohmann::json::parse(in);
  std::cout << e.output;
  EXPECT_EQ(s["images_A"], 8);
  EXPECT_GT(s["psnr"].get<double>(), s["identity_psnr"].get<double>() + 5.0) << e.output;
  EXPECT_GT(s["accuracy"].get<double>(), s["identity_accuracy"].get<double>() + 0.15) << e.output;

  // The exports record the size they were trained at.
  auto info = run_trainer({"info", d / "ck/syn/G_A.pt"});
  EXPECT_TRUE(contains(info.output, "\"crop_size\": 64")) << info.output;
  EXPECT_TRUE(contains(info.output, "\"direction\": \"AtoB\"")) << info.output;
  EXPECT_TRUE(contains(run_trainer({"info", d / "ck/syn/G_B.pt"}).output, "\"direction\": \"BtoA\""));

  // The test command translates a folder and writes a page.
  auto t = run_trainer(
      {"test", "--model", d / "ck/syn/G_A.pt", "--input", data + "/testA", "--output", d / "out", "--device", "cpu"});
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_TRUE(fs::exists(d / "out/00000.png"));
  EXPECT_TRUE(fs::exists(d / "out/index.html"));
  std::ifstream html(d / "out/index.html");
  std::stringstream h;
  h << html.rdbuf();
  EXPECT_TRUE(contains(h.str(), "inputs/00007.png")) << h.str();
}

}  // namespace
}  // namespace cg
