#include "trainer/cli/synth-command.h"

#include "trainer/data/synth.h"

#include <iostream>
#include <memory>

namespace cg {

void add_synth_command(CLI::App& app) {
  auto o = std::make_shared<SynthOptions>();
  auto* cmd =
      app.add_subcommand("synth",
                         "Write the synthetic facades task: label maps (A) and rendered photos (B), unpaired for "
                         "training, with ground truth for cg-trainer eval");
  cmd->add_option("--out", o->out, "dataset folder to write")->required();
  cmd->add_option("--count", o->count, "training images per domain")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--test-count,--test_count", o->test_count, "test images per domain")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  cmd->add_option("--size", o->size, "image side in pixels (a multiple of 4)")
      ->check(CLI::Range(32, 4096))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "random seed")->capture_default_str();
  cmd->add_flag("--aligned", o->aligned,
                "write the paired task for pix2pix instead: train/ and test/ of label map | photo images side by "
                "side (the official aligned layout); the test facades are those of testA/testA_truth");
  cmd->callback([o] {
    write_synthetic_dataset(*o);
    if (o->aligned) {
      std::cout << "wrote " << o->out << ": train/ " << o->count << " and test/ " << o->test_count
                << " label | photo pairs, " << 2 * o->size << "x" << o->size << "\n";
      return;
    }
    std::cout << "wrote " << o->out << ": trainA/trainB " << o->count << " images each, testA/testB " << o->test_count
              << " each with ground truth in testA_truth/testB_truth, " << o->size << "x" << o->size << "\n";
  });
}

}  // namespace cg
