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

}  // namespace cg
