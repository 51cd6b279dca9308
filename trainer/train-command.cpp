#include "train-command.h"

#include "options.h"
#include "train.h"

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
  cmd->callback([opt, cmd] {
    const int rc = train(*opt, given_options(*cmd), std::cout);
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace cg
