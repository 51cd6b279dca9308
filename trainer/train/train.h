// The training loop of `cg-trainer train`.
#pragma once

#include "trainer/train/options.h"

#include <iosfwd>
#include <map>
#include <string>

namespace cg {

// File names inside CHECKPOINTS_DIR/NAME.
constexpr const char* kLatestCheckpoint = "latest_checkpoint.pt";
std::string snapshot_name(int epoch);  // "{epoch}_checkpoint.pt"

// Trains as the options say, writing progress to `out`. `given` lists the options set on the
// command line (they decide what a --continue-train may change). Returns when training ends, or
// stops on --max-iters or SIGINT/SIGTERM with the latest checkpoint saved. Throws Error for bad
// input and for a save that fails.
void train(TrainOptions opt, const std::map<std::string, bool>& given, std::ostream& out);

// For --continue-train: takes the checkpoint's values for the options that shape the model and
// data, and refuses command-line values that contradict them (cg::Error listing each one).
void merge_checkpoint_options(TrainOptions& opt, const std::map<std::string, bool>& given,
                              const std::map<std::string, std::string>& saved, int next_epoch, const std::string& path);

}  // namespace cg
