// cg-trainer: trains CycleGAN and manages G.pt model files. A thin CLI over the model library
// and the training library.
#include "trainer/cli/eval-command.h"
#include "trainer/cli/export-command.h"
#include "trainer/cli/flicker-command.h"
#include "trainer/cli/synth-command.h"
#include "trainer/cli/test-command.h"
#include "trainer/cli/train-command.h"

#include <CLI/CLI.hpp>

#include <exception>
#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"cg-trainer: CycleGAN training and G.pt model files for the cyclegan GStreamer element"};
  app.require_subcommand(1);
  cg::add_train_command(app);
  cg::add_distill_command(app);
  cg::add_test_command(app);
  cg::add_synth_command(app);
  cg::add_eval_command(app);
  cg::add_export_command(app);
  cg::add_info_command(app);
  cg::add_flicker_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "cg-trainer: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
