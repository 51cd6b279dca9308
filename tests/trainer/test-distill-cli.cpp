// End-to-end tests of cg-trainer distill, run as a user runs it: a tiny teacher trained with
// `train`, then distilled into a student that must come to reproduce it.
#include "model/model-file.h"
#include "trainer/data/image-io.h"
#include "trainer/report/report.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/distiller.h"
#include "trainer/train/options.h"

#include "tests/trainer/model-helpers.h"
#include "tests/trainer/trainer-helpers.h"

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace cg {
namespace {

const std::vector<std::string> kDistillLosses = {"G_recon", "G_feat", "G_gan", "D"};

namespace fs = std::filesystem;
using test::expect_identical;
using test::log_rows;
using test::run_trainer;
using test::TempDir;
using test::tiny_train_args;
using test::operator+;
using Args = std::vector<std::string>;

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// Runs the enclosed commands in another working directory.
struct InFolder {
  fs::path old = fs::current_path();
  explicit InFolder(const fs::path& p) { fs::current_path(p); }
  ~InFolder() { fs::current_path(old); }
};

// Builds the distiller a checkpoint describes and loads it.
std::unique_ptr<Distiller> load_distiller(const std::string& path, CheckpointInfo* info_out = nullptr) {
  const auto info = read_checkpoint_info(path);
  TrainOptions o;
  for (const auto& [k, v] : info.options) set_option(o, k, v);
  auto m = std::make_unique<Distiller>(o, torch::kCPU);
  const auto loaded = load_checkpoint(path, *m);
  if (info_out) *info_out = loaded;
  return m;
}

// The test images through both generators, as images in [-1, 1].
std::pair<at::Tensor, at::Tensor> translate_both(const std::string& a, const std::string& b,
                                                 const std::string& images) {
  auto ma = load_generator(a), mb = load_generator(b);
  std::vector<at::Tensor> x;
  for (const auto& f : list_images(images)) x.push_back(image_to_tensor(read_rgb(f)));
  const at::Tensor batch = at::stack(x);
  torch::NoGradGuard no_grad;
  return {ma.module.forward({batch}).toTensor(), mb.module.forward({batch}).toTensor()};
}

// PSNR of `student` against `teacher` on the images in `images` (peak-to-peak 2).
double psnr(const std::string& student, const std::string& teacher, const std::string& images) {
  const auto [s, t] = translate_both(student, teacher, images);
  return 10 * std::log10(4.0 / (s - t).pow(2).mean().item<double>());
}

class DistillCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    data_ = test::make_synth(*dir_, 6, 32);  // 6 iterations per epoch, 4 test images
    // 20 epochs: a teacher much further from a fresh generator than an untrained one (~10 s).
    const auto r = run_trainer(tiny_train_args(data_, *dir_ / "ck", "teacher") +
                               Args{"--netG", "resnet_3blocks", "--ngf", "8", "--max-iters", "120"});
    if (r.status != 0) throw std::runtime_error("training the teacher failed: " + r.output);
    teacher_ = *dir_ / "ck/teacher/G_A.pt";
  }
  static void TearDownTestSuite() { delete dir_; }

  // A distillation run of a small student, `iters` iterations in total.
  Args args(const std::string& name, int iters) const {
    Args a = {"distill",
              "--teacher",
              teacher_,
              "--dataroot",
              data_,
              "--checkpoints-dir",
              ck_.path.string(),
              "--name",
              name,
              "--student-ngf",
              "8",
              "--student-blocks",
              "2",
              "--ndf",
              "8",
              "--max-iters",
              std::to_string(iters)};
    for (const auto& x : test::tiny_run_args()) a.push_back(x);
    return a;
  }
  std::string exp(const std::string& name) const { return ck_ / name; }

  static TempDir* dir_;
  static std::string data_, teacher_;
  TempDir ck_;
};
TempDir* DistillCli::dir_ = nullptr;
std::string DistillCli::data_, DistillCli::teacher_;

// A short distillation brings the student far closer to the teacher than it starts: 15 dB ->
// 22.9 dB here (11-13 dB -> 22.4-22.6 dB at seeds 3, 4 and 5; 2e-3 instead of 1e-3 is noisier).
TEST_F(DistillCli, StudentLearnsTheTeacher) {
  const auto fresh = run_trainer(args("fresh", 1));
  ASSERT_EQ(fresh.status, 0) << fresh.output;
  const auto r = run_trainer(args("learnt", 100) + Args{"--lr", "0.001"});  // 5x: fewer iterations
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string test_a = data_ + "/testA";
  const double before = psnr(exp("fresh") + "/G.pt", teacher_, test_a);
  const double after = psnr(exp("learnt") + "/G.pt", teacher_, test_a);
  std::cout << "student vs teacher PSNR: " << before << " dB after 1 iteration, " << after << " dB after 100\n";
  EXPECT_GT(after, before + 5.0);
  // The reconstruction loss falls too (to 0.2-0.4 of its start at those seeds).
  const auto rows = log_rows(exp("learnt"), kDistillLosses);
  ASSERT_EQ(rows.size(), 100u);
  double last = 0;  // the mean of the last 6 iterations'
  for (size_t i = rows.size() - 6; i < rows.size(); ++i) last += rows[i].losses.values[0] / 6;
  EXPECT_LT(last, 0.6 * rows.front().losses.values[0]);
  EXPECT_GT(rows.front().losses.values[1], 0.0);  // features are distilled
  // The samples show the teacher beside the student.
  EXPECT_TRUE(fs::exists(exp("learnt") + "/web/images/epoch001_teacher.png"));
  EXPECT_TRUE(fs::exists(exp("learnt") + "/web/images/epoch001_student.png"));
  EXPECT_TRUE(fs::exists(exp("learnt") + "/loss_curve.png"));
}

// N + M iterations in one run == N, stop, resume, M: bitwise, across an epoch boundary, with a
// mid-epoch resume point.
TEST_F(DistillCli, ResumeIsExact) {
  const Args temporal = {"--lambda-temporal", "10"};  // its random motions resume too
  const auto whole = run_trainer(args("whole", 9) + temporal);
  ASSERT_EQ(whole.status, 0) << whole.output;
  const auto first = run_trainer(args("split", 4) + temporal);
  ASSERT_EQ(first.status, 0) << first.output;
  const auto second = run_trainer(args("split", 9) + Args{"--continue-train"});
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_TRUE(contains(second.output, "resuming")) << second.output;

  CheckpointInfo iw, is;
  const auto a = load_distiller(exp("whole") + "/latest_checkpoint.pt", &iw);
  const auto b = load_distiller(exp("split") + "/latest_checkpoint.pt", &is);
  EXPECT_EQ(iw.state.total_iters, 9);
  EXPECT_EQ(is.state.total_iters, 9);
  EXPECT_EQ(is.state.epoch, 2);
  EXPECT_EQ(is.state.epoch_iter, 3);
  EXPECT_EQ(is.options.at("model"), "distill");
  const auto na = a->networks(), nb = b->networks();
  ASSERT_EQ(na.size(), nb.size());
  for (size_t i = 0; i < na.size(); ++i) expect_identical(*na[i].second, *nb[i].second, na[i].first);
  EXPECT_GT(a->mappings->size(), 0u);
  // The exported students agree, and the logs loss for loss.
  const auto [ga, gb] = translate_both(exp("whole") + "/G.pt", exp("split") + "/G.pt", data_ + "/testA");
  EXPECT_TRUE(ga.equal(gb));
  auto names = kDistillLosses;
  names.emplace_back("G_temporal");
  const auto rw = log_rows(exp("whole"), names), rs = log_rows(exp("split"), names);
  ASSERT_EQ(rw.size(), 9u);
  ASSERT_EQ(rs.size(), 9u);
  for (size_t i = 0; i < rw.size(); ++i) {
    EXPECT_EQ(rs[i].total_iters, static_cast<int64_t>(i + 1));
    EXPECT_EQ(rw[i].losses.values, rs[i].losses.values) << "iteration " << i + 1;
  }
}

TEST_F(DistillCli, BadInputGetsAClearMessage) {
  struct Case {
    Args argv;
    std::string message, message2;
  };
  TempDir d;
  fs::create_directories(d / "noA/trainA");
  fs::create_directories(d / "noA/trainB");
  fs::copy_file(data_ + "/trainB/00000.png", d / "noA/trainB/00000.png");
  std::ofstream(d / "notes.txt") << "not a model";
  // A checkpoint of the teacher's training: an archive, but not a generator.
  const std::string checkpoint = *dir_ / "ck/teacher/latest_checkpoint.pt";
  ASSERT_EQ(run_trainer(args("distilled", 1)).status, 0);
  ASSERT_EQ(run_trainer(tiny_train_args(data_, ck_.path.string(), "cyclegan") + Args{"--max-iters", "1"}).status, 0);
  auto with = [&](const std::string& key, const std::string& value) {
    Args a = args("bad", 1);
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == key) a[i + 1] = value;
    return a;
  };
  const std::vector<Case> cases = {
      {with("--teacher", d / "missing.pt"), "--teacher", d / "missing.pt"},
      {with("--teacher", d / "notes.txt"), "--teacher", d / "notes.txt"},
      {with("--teacher", checkpoint), "--teacher", checkpoint},
      {{"distill", "--dataroot", data_, "--checkpoints-dir", ck_.path.string()}, "--teacher is required", ""},
      {args("bad", 1) + Args{"--direction", "BtoA"}, "contradicts the teacher", teacher_},
      {with("--dataroot", d / "noA"), "trainA: no images", ""},
      {args("bad", 1) + Args{"--student", "huge"}, "--student huge is not a preset", ""},
      {args("bad", 1) + Args{"--student-block", "dense"}, "--student-block: dense is not one of", ""},
      {args("bad", 1) + Args{"--student-s2d", "3"}, "--student-s2d 3 is not 1, 2 or 4", ""},
      // Each command resumes only its own checkpoints.
      {tiny_train_args(data_, ck_.path.string(), "distilled") + Args{"--continue-train"},
       "resume it with cg-trainer distill", ""},
      {args("cyclegan", 2) + Args{"--continue-train"}, "resume it with cg-trainer train", ""},
      // A resume keeps the student it started.
      {args("distilled", 2) + Args{"--continue-train", "--student-ngf", "16"},
       "--student_ngf 16 (the checkpoint has 8)", ""},
      // Options of the other command are not accepted.
      {args("bad", 1) + Args{"--lambda-A", "5"}, "lambda-A", ""},
      {tiny_train_args(data_, ck_.path.string(), "t") + Args{"--teacher", teacher_}, "teacher", ""},
  };
  for (const auto& c : cases) {
    const auto r = run_trainer(c.argv);
    EXPECT_NE(r.status, 0) << c.message;
    EXPECT_GT(r.status, 0) << "crashed: " << r.output;
    EXPECT_TRUE(contains(r.output, c.message)) << "expected '" << c.message << "' in:\n" << r.output;
    EXPECT_TRUE(contains(r.output, c.message2)) << "expected '" << c.message2 << "' in:\n" << r.output;
    EXPECT_FALSE(contains(r.output, "terminate called")) << r.output;
  }
  // None of them started an experiment.
  EXPECT_FALSE(fs::exists(exp("bad") + "/latest_checkpoint.pt"));
}

// The student's G.pt says what it is and where it came from, and the test command runs it.
TEST_F(DistillCli, StudentFileRecordsItsTeacherAndRuns) {
  const auto r = run_trainer(args("m", 2) + Args{"--student-block", "mobile"});
  ASSERT_EQ(r.status, 0) << r.output;
  const std::string student = exp("m") + "/G.pt";
  const auto info = run_trainer({"info", student});
  ASSERT_EQ(info.status, 0) << info.output;
  const auto end = info.output.find("\n}\n");  // the metadata, then sizes
  ASSERT_NE(end, std::string::npos) << info.output;
  const auto json = nlohmann::json::parse(info.output.substr(0, end + 2));
  EXPECT_EQ(json["architecture"], "mobile_resnet_2blocks") << info.output;
  EXPECT_EQ(json["mobile"], true) << info.output;
  EXPECT_EQ(json["ngf"], 8) << info.output;
  EXPECT_EQ(json["n_blocks"], 2) << info.output;
  EXPECT_EQ(json["direction"], "AtoB") << info.output;
  EXPECT_EQ(json["crop_size"], 32) << info.output;
  EXPECT_EQ(json["teacher"], "G_A.pt (resnet_3blocks, ngf 8)") << info.output;
  GeneratorOptions g;
  g.ngf = 8;
  g.n_blocks = 2;
  g.mobile = true;
  EXPECT_EQ(json["macs_per_256x256_frame"], count_macs(generator_layers(g), 3, 256, 256)) << info.output;
  // The teacher is unchanged by being distilled, and records no teacher of its own.
  const auto teacher_info = run_trainer({"info", teacher_});
  EXPECT_TRUE(contains(teacher_info.output, "\"teacher\": \"\"") || !contains(teacher_info.output, "\"teacher\""))
      << teacher_info.output;

  const auto loaded = load_generator(student);
  EXPECT_TRUE(loaded.has_metadata);
  EXPECT_TRUE(loaded.metadata.generator.mobile);
  TempDir out;
  const auto t =
      run_trainer({"test", "--model", student, "--input", data_ + "/testA", "--output", out / "o", "--device", "cpu"});
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_TRUE(fs::exists(out / "o/00000.png"));
  EXPECT_TRUE(fs::exists(out / "o/index.html"));
}

// The nano preset folds 2x2 pixels into channels before its first convolution and unfolds them
// after its last: it trains with the teacher's features (its trunk is at the teacher's 1/4
// resolution), resumes as the same student, and the engine runs its G.pt.
TEST_F(DistillCli, NanoStudentTrainsResumesAndRuns) {
  const auto r = run_trainer(args("nano", 2) + Args{"--student", "nano"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "student s2d2_mobile_resnet_2blocks")) << r.output;
  const auto rows = log_rows(exp("nano"), kDistillLosses);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_GT(rows.front().losses.values[1], 0.0);  // features are distilled
  const auto resumed = run_trainer(args("nano", 3) + Args{"--continue-train"});
  ASSERT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_TRUE(contains(resumed.output, "resuming")) << resumed.output;

  const std::string student = exp("nano") + "/G.pt";
  const auto loaded = load_generator(student);
  ASSERT_TRUE(loaded.has_metadata);
  EXPECT_EQ(loaded.metadata.generator.space_to_depth, 2);
  EXPECT_EQ(loaded.metadata.architecture(), "s2d2_mobile_resnet_2blocks");
  const auto info = run_trainer({"info", student});
  ASSERT_EQ(info.status, 0) << info.output;
  EXPECT_TRUE(contains(info.output, "\"space_to_depth\": 2")) << info.output;
  EXPECT_TRUE(contains(info.output, "space-to-depth by 2")) << info.output;
  TempDir out;
  const auto t =
      run_trainer({"test", "--model", student, "--input", data_ + "/testA", "--output", out / "o", "--device", "cpu"});
  ASSERT_EQ(t.status, 0) << t.output;
  EXPECT_TRUE(fs::exists(out / "o/00000.png"));
  // --student-s2d sets the fold of any preset.
  const auto folded4 = run_trainer(args("nano4", 1) + Args{"--student", "nano", "--student-s2d", "4"});
  ASSERT_EQ(folded4.status, 0) << folded4.output;
  EXPECT_TRUE(contains(folded4.output, "student s2d4_mobile_resnet_2blocks")) << folded4.output;
}

// A BtoA teacher is distilled BtoA without being told: the student learns trainB -> A.
TEST_F(DistillCli, DirectionComesFromTheTeacher) {
  const std::string teacher_b = *dir_ / "ck/teacher/G_B.pt";
  Args a = args("b", 1);
  a[2] = teacher_b;
  const auto r = run_trainer(a);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_checkpoint_info(exp("b") + "/latest_checkpoint.pt").options.at("direction"), "BtoA");
  EXPECT_EQ(load_generator(exp("b") + "/G.pt").metadata.direction, "BtoA");
  // Saying so agrees with the teacher and is accepted.
  const auto again = run_trainer(a + Args{"--direction", "BtoA", "--name", "b2"});
  EXPECT_EQ(again.status, 0) << again.output;
  // A resume needs no more than --name: the teacher, student and direction are the checkpoint's.
  const auto plain = run_trainer({"distill", "--checkpoints-dir", ck_.path.string(), "--name", "b", "--continue-train",
                                  "--max-iters", "2", "--threads", "1", "--device", "cpu"});
  ASSERT_EQ(plain.status, 0) << plain.output;
  const auto info = read_checkpoint_info(exp("b") + "/latest_checkpoint.pt");
  EXPECT_EQ(info.state.total_iters, 2);
  EXPECT_EQ(info.options.at("direction"), "BtoA");
  EXPECT_EQ(info.options.at("student_ngf"), "8");
  EXPECT_EQ(info.options.at("teacher"), teacher_b);
}

// A relative --teacher is recorded so that a resume from another folder still finds it, as
// --dataroot is.
TEST_F(DistillCli, ResumeFromAnotherFolderFindsARelativeTeacher) {
  {
    const InFolder in(fs::path(teacher_).parent_path());
    Args a = args("rel", 1);
    a[2] = "G_A.pt";
    const auto r = run_trainer(a);
    ASSERT_EQ(r.status, 0) << r.output;
  }
  const InFolder elsewhere(ck_.path);
  const auto r = run_trainer({"distill", "--checkpoints-dir", ck_.path.string(), "--name", "rel", "--continue-train",
                              "--max-iters", "2", "--threads", "1", "--device", "cpu"});
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_checkpoint_info(exp("rel") + "/latest_checkpoint.pt").state.total_iters, 2);
}

// Generators without residual blocks (which train and --student-blocks accept) as student or
// teacher: the run trains, or is refused before it starts, naming what it refuses.
TEST_F(DistillCli, NoResidualBlocks) {
  const auto t = run_trainer(tiny_train_args(data_, ck_.path.string(), "t0") +
                             Args{"--netG", "resnet_0blocks", "--max-iters", "1"});
  ASSERT_EQ(t.status, 0) << t.output;
  struct Case {
    Args argv;
    std::string name, refusal;
  };
  Args with_teacher = args("s2", 2);
  with_teacher[2] = exp("t0") + "/G_A.pt";
  const std::vector<Case> cases = {{args("s0", 2) + Args{"--student-blocks", "0"}, "s0", "--student-blocks"},
                                   {with_teacher, "s2", "G_A.pt"}};
  for (const auto& c : cases) {
    const auto r = run_trainer(c.argv);
    if (r.status == 0) {
      EXPECT_TRUE(fs::exists(exp(c.name) + "/G.pt")) << r.output;
    } else {
      EXPECT_GT(r.status, 0) << "crashed: " << r.output;
      EXPECT_FALSE(contains(r.output, "epoch 1/")) << "failed once training had started:\n" << r.output;
      EXPECT_TRUE(contains(r.output, c.refusal)) << r.output;
    }
  }
}

}  // namespace
// A U-Net teacher (pix2pix's generator) is distilled on its outputs: its feature maps have other
// sizes and meanings than a ResNet student's. Its frames must be multiples of 2^depth, so a crop
// that is not is refused before training.
TEST_F(DistillCli, UnetTeacherIsDistilledOnItsOutputs) {
  GeneratorOptions u;
  u.family = Family::kUnet;
  u.unet_downs = 7;
  u.ngf = 2;
  u.norm = Norm::kBatch;
  Generator g(u);
  g->eval();
  const std::string teacher = ck_ / "unet.pt";
  save_generator(g, ModelMetadata::for_generator(u), teacher);
  Args a = args("u", 2);
  a[2] = teacher;
  const auto refused = run_trainer(a);
  EXPECT_GT(refused.status, 0) << refused.output;
  EXPECT_TRUE(contains(refused.output, "multiples of 128")) << refused.output;
  for (size_t i = 0; i + 1 < a.size(); ++i)
    if (a[i] == "--crop-size" || a[i] == "--load-size") a[i + 1] = "128";
  const auto r = run_trainer(a);
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "outputs only")) << r.output;
  EXPECT_TRUE(fs::exists(exp("u") + "/G.pt"));
}

}  // namespace cg
