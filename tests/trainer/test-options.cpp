// The option table: what each option takes is checked alike on the command line and in validate()
// (values from a checkpoint or set_option), and a resume's facts come from the same rows.
#include "trainer/data/preprocess.h"
#include "trainer/train/options.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cg {
namespace {

TrainOptions valid(const std::string& model = "cycle_gan") {
  TrainOptions o;
  o.dataroot = "data";
  o.model = model;
  if (model == "distill") {
    o.teacher = "G.pt";
    o.student_ngf = 16;
    o.student_blocks = 6;
    o.student_block = "resnet";
  }
  return o;
}

std::string validate_message(const TrainOptions& o) {
  try {
    o.validate();
    return "";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    return e.what();
  }
}

std::string command_line_message(const std::string& args, Command command = Command::kTrain) {
  CLI::App app;
  TrainOptions o;
  add_train_options(app, o, command);
  try {
    app.parse(args, false);
    return "";
  } catch (const CLI::ValidationError& e) {
    return e.what();
  }
}

TEST(Options, DefaultsAreValid) {
  EXPECT_EQ(validate_message(valid()), "");
  EXPECT_EQ(validate_message(valid("pix2pix")), "");
  EXPECT_EQ(validate_message(valid("distill")), "");
}

// A bad value gives the same message whether it comes from the command line or from a
// checkpoint: both are the row's one check.
TEST(Options, OneCheckForCommandLineAndValidate) {
  struct Case {
    const char* key;
    const char* value;
    const char* message;
    Command command = Command::kTrain;
  };
  const Case cases[] = {
      {"netD", "patch", "--netD: patch is not one of basic, n_layers, pixel"},
      {"preprocess", "zoom",
       "--preprocess: zoom is not one of resize_and_crop, crop, scale_width, "
       "scale_width_and_crop, none"},
      {"amp", "fp8", "--amp: fp8 is not one of off, bf16, fp16"},
      {"n_layers_D", "7", "--n-layers-D: 7 is out of range: it must be between 1 and 6"},
      {"batch_size", "0", "--batch-size: 0 is out of range: it must be at least 1"},
      {"lr", "0", "--lr: 0 is out of range: it must be above 0"},
      {"beta1", "1", "--beta1: 1 is out of range: it must be at least 0 and below 1"},
      {"seed", "-2", "--seed: -2 is out of range: it must be at least -1"},
      {"student_block", "dense", "--student-block: dense is not one of resnet, mobile", Command::kDistill},
  };
  for (const auto& c : cases) {
    TrainOptions o = valid(c.command == Command::kDistill ? "distill" : "cycle_gan");
    set_option(o, c.key, c.value);
    EXPECT_EQ(validate_message(o), c.message);
    std::string flag = c.key;
    for (auto& ch : flag)
      if (ch == '_') ch = '-';
    EXPECT_EQ(command_line_message("--" + flag + "=" + c.value, c.command), c.message);
  }
  // distill is a command of its own, not a --model of train.
  EXPECT_EQ(command_line_message("--model=distill"), "--model: distill is not one of cycle_gan, pix2pix");
  // The values next to the bounds pass.
  for (const auto& [key, value] : std::vector<std::pair<const char*, const char*>>{
           {"n_layers_D", "6"}, {"beta1", "0"}, {"beta1", "0.999"}, {"lr", "1e-9"}, {"seed", "-1"}}) {
    TrainOptions o = valid();
    set_option(o, key, value);
    EXPECT_EQ(validate_message(o), "") << key << " " << value;
    EXPECT_EQ(command_line_message(std::string("--") + key + "=" + value), "") << key << " " << value;
  }
  // Every preprocess mode the datasets know is a choice of the option.
  for (const auto& mode : preprocess_mode_names()) {
    TrainOptions o = valid();
    o.preprocess = mode;
    EXPECT_EQ(validate_message(o), "") << mode;
  }
}

// The options of the other command keep their defaults, which need not be values of this one.
TEST(Options, OnlyTheCommandsOwnOptionsAreChecked) {
  TrainOptions train = valid();
  EXPECT_EQ(train.student_block, "");
  EXPECT_EQ(validate_message(train), "");
  TrainOptions distill = valid("distill");
  distill.student_block = "";
  EXPECT_EQ(validate_message(distill), "--student-block:  is not one of resnet, mobile");
}

TEST(Options, ResumeFactsComeFromTheRows) {
  for (const char* key : {"ngf", "preprocess", "crop_size", "seed", "teacher", "lambda_gan"}) {
    EXPECT_TRUE(is_fixed_by_checkpoint(key)) << key;
    EXPECT_FALSE(is_per_run(key)) << key;
  }
  for (const char* key : {"device", "threads", "num_threads", "max_iters", "continue_train", "epoch_count"}) {
    EXPECT_TRUE(is_per_run(key)) << key;
    EXPECT_FALSE(is_fixed_by_checkpoint(key)) << key;
  }
  // Taken from the checkpoint unless given, and free to change.
  for (const char* key : {"dataroot", "n_epochs", "print_freq", "amp", "no_such_option"}) {
    EXPECT_FALSE(is_fixed_by_checkpoint(key)) << key;
    EXPECT_FALSE(is_per_run(key)) << key;
  }
}

}  // namespace
}  // namespace cg
