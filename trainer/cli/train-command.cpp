#include "trainer/cli/train-command.h"

#include "trainer/train/options.h"
#include "trainer/train/train.h"

#include <iostream>
#include <memory>

namespace cg {

void add_train_command(CLI::App& app) {
  auto opt = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train CycleGAN as the official cycle_gan model does (same options, defaults, losses and schedule), "
      "with exact resume. Official --snake_case spellings are accepted too.");
  add_train_options(*cmd, *opt);
  cmd->callback([opt, cmd] { train(*opt, given_options(*cmd), std::cout); });
}

void add_distill_command(CLI::App& app) {
  auto opt = std::make_shared<TrainOptions>();
  opt->model = "distill";
  auto* cmd = app.add_subcommand(
      "distill",
      "Distil a trained generator (--teacher G.pt) into a small, fast student generator: trained on the teacher's "
      "input domain (trainA, or trainB for a BtoA teacher) to reproduce its outputs and features, with an LSGAN term "
      "against the target domain's real images. Same data options, checkpoints, resume and reports as train; the "
      "student is written as G.pt.");
  add_train_options(*cmd, *opt, Command::kDistill);
  cmd->callback([opt, cmd] { train(*opt, given_options(*cmd, Command::kDistill), std::cout); });
}

}  // namespace cg
