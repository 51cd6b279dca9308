// Checkpoints that resume exactly: a model's networks, its optimizers' state, the training
// position, its image pools, the random generators and the options, in one file.
#pragma once

#include "common/error.h"
#include "trainer/train/options.h"
#include "trainer/train/schedule.h"
#include "trainer/train/trainable.h"

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace cg {

constexpr int kCheckpointVersion = 1;

// Where training stands. `epoch` is the absolute epoch being trained and `epoch_iter` the
// number of its batches already done, so a resume starts at batch `epoch_iter` of `epoch`.
struct TrainState {
  int epoch = 1;
  int64_t epoch_iter = 0;
  int64_t total_iters = 0;
  uint64_t seed = 0;
  double elapsed_s = 0;  // training time before this run
  int ranks = 1;         // of the distributed run that saved it; epoch_iter counts its batches
  PlateauState plateau;  // --lr-policy plateau, after the epochs before `epoch`
  // This rank's loss sums (in the model's loss_names order) over the first epoch_iter iterations
  // of `epoch`, so that a run resumed mid-epoch ends it with the mean an uninterrupted one has.
  std::vector<double> epoch_loss_sums;
  int64_t epoch_loss_count = 0;
};

struct CheckpointInfo {
  TrainState state;
  std::map<std::string, std::string> options;  // as TrainOptions::to_map
  int version = 0;
};

// Writes `path` atomically: to a temporary file beside it, flushed to disk, then renamed over it;
// any failure leaves `path` as it was and throws Error naming the file and the reason.
void save_checkpoint(const std::string& path, TrainableModel& model, const TrainState& state,
                     const TrainOptions& options);

// A checkpoint file's bytes, read once. Under torchrun rank 0 reads its own and sends them to the
// other ranks through the process group, which then need no copy of rank 0's folder; every rank
// loads the same bytes, even if the file changes meanwhile.
struct CheckpointFile {
  std::string path;  // where the bytes were read (on rank 0's machine, for the other ranks): for messages
  std::string bytes;
};

// Throws Error(kCheckpoint) naming the file when it is missing, or Error(kIo) when unreadable.
CheckpointFile read_checkpoint_file(const std::string& path);

// Reads the options and position only (cheap: no networks are built).
CheckpointInfo read_checkpoint_info(const std::string& path);
CheckpointInfo read_checkpoint_info(const CheckpointFile& file);

// Loads everything into `model`, which must have been built with the checkpoint's options, and
// restores LibTorch's CPU generator. Throws Error.
CheckpointInfo load_checkpoint(const std::string& path, TrainableModel& model);
CheckpointInfo load_checkpoint(const CheckpointFile& file, TrainableModel& model);

// What differs between the ranks of a distributed run, whose checkpoint rank 0 writes: each other
// rank's image pools, random generators and epoch loss sums (of `state`), in a file of its own
// beside the checkpoint.
// A rank state records the iteration it was saved at; loading one refuses (loading nothing and
// returning why) a file that is missing or of another iteration than `state`, the checkpoint's,
// and throws Error for a damaged one.
std::string rank_state_path(const std::string& checkpoint, int rank);
void save_rank_state(const std::string& path, TrainableModel& model, const TrainState& state);
std::optional<std::string> load_rank_state(const std::string& path, TrainableModel& model, TrainState& state);

}  // namespace cg
