// The training options: the official cycle_gan option set with its defaults, plus the options
// this trainer adds (seed, device, threads, max-iters, and the CUDA speed/exactness settings).
#pragma once

#include <CLI/CLI.hpp>
#include "common/defaults.h"
#include "common/error.h"

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace cg {

struct TrainOptions {
  // data
  std::string dataroot;
  std::string name = "experiment_name";
  std::string checkpoints_dir = "./checkpoints";
  std::string direction = "AtoB";
  int64_t batch_size = 1;
  int64_t load_size = 286;
  int64_t crop_size = kDefaultCropSize;
  std::string preprocess = "resize_and_crop";
  std::string dataset_mode = "unaligned";  // unaligned (trainA, trainB) | aligned (train/ of AB images)
  bool no_flip = false;
  int64_t max_dataset_size = INT64_MAX;
  bool serial_batches = false;
  int num_threads = 4;  // data loading workers, as the official option
  // networks
  std::string netG = "resnet_9blocks";
  std::string netD = "basic";
  int64_t ngf = 64;
  int64_t ndf = 64;
  int64_t n_layers_D = 3;
  std::string norm = "instance";
  bool no_dropout = true;  // the cycle_gan default: the generator trains without dropout
  std::string init_type = "normal";
  double init_gain = 0.02;
  // losses
  std::string gan_mode = "lsgan";
  double lambda_A = 10.0;
  double lambda_B = 10.0;
  double lambda_identity = 0.5;
  int64_t pool_size = 50;
  double lambda_L1 = 100.0;  // pix2pix: weight of the L1 loss between G(A) and B
  // Every model's temporal consistency term (temporal-consistency.h); 0 = the official objective.
  double lambda_temporal = 0.0;
  // optimisation and schedule
  double lr = 0.0002;
  double beta1 = 0.5;
  std::string lr_policy = "linear";
  int lr_decay_iters = 50;  // step policy: epochs between reductions
  int n_epochs = 100;
  int n_epochs_decay = 100;
  int epoch_count = 1;
  // saving and output
  int64_t save_latest_freq = 5000;
  int save_epoch_freq = 5;
  int64_t print_freq = 100;
  int64_t display_freq = 400;
  bool continue_train = false;
  // additions
  int64_t seed = -1;  // -1: drawn at start and recorded, so a resume still continues exactly
  std::string device = kDefaultDevice;
  int threads = 0;        // compute threads; 0 = LibTorch's default
  int64_t max_iters = 0;  // stop (saving latest) once this many iterations are done in total; 0 = no limit
  // CUDA only (see run-mode.h): auto settles to on or off when a run starts, by whether --seed
  // was given, and is recorded so a resume keeps the choice.
  std::string deterministic = "auto";
  std::string fused_adam = "auto";  // auto = on for CUDA, off for the CPU
  std::string amp = "off";          // off | bf16 | fp16 (fp16 needs CUDA)
  // Distributed runs (torchrun): compare a weight checksum across ranks every N iterations
  // (0 = never), and give up on a collective after this many seconds.
  int64_t check_sync = 0;
  int dist_timeout = 300;
  int64_t dist_overlap = 1;
  // What is trained: cycle_gan or pix2pix (`train --model`), or distill (`distill`).
  std::string model = "cycle_gan";
  // distill (see distiller.h): the teacher G.pt, the student's architecture (a preset, or each
  // part given; settled before training and recorded) and the loss weights.
  std::string teacher;
  std::string student = "fast";
  int64_t student_ngf = 0;
  int64_t student_blocks = -1;
  std::string student_block;  // resnet | mobile
  int64_t student_s2d = 0;    // 0: the preset's
  double lambda_recon = 10.0;
  double lambda_feat = 1.0;
  double lambda_gan = 0.1;

  int n_blocks() const;
  std::string experiment_dir() const;
  int last_epoch() const { return n_epochs + n_epochs_decay; }

  // Refuses option values this trainer does not implement and inconsistent combinations.
  void validate() const;

  // One "key: value" per line, the format of the official train_opt.txt. `changed` marks
  // options that differ from their defaults as the official file does.
  std::string to_text() const;
  std::map<std::string, std::string> to_map() const;
};

// The commands that train: each registers the options that apply to it.
enum class Command { kTrain, kDistill };

// Registers every option of `command` on `cmd` with both --kebab-case and --snake_case spellings.
void add_train_options(CLI::App& cmd, TrainOptions& opt, Command command = Command::kTrain);

// Options whose change would make a checkpoint mean something else (networks, preprocessing,
// losses, optimizer, seed). On --continue-train, such an option given on the command line with a
// value other than the checkpoint's is refused. (Any option not given takes the checkpoint's
// value; others, like --dataroot for a moved dataset or --n-epochs, may be changed.)
bool is_fixed_by_checkpoint(const std::string& key);
// Settings of this run only (the device, threads, --max-iters...): a resume does not take them
// from the checkpoint.
bool is_per_run(const std::string& key);
// Facts of one machine (--dataroot, --checkpoints-dir, --device, --threads, --num-threads): the
// only options in which the ranks of a distributed run may differ. The rest, --max-iters and
// --check-sync included, decide which collectives run and must be the same on every rank.
bool is_per_machine(const std::string& key);

// The official per-model defaults: with --model pix2pix on the command line, every option the
// command line leaves out takes pix2pix's default (netG unet_256, norm batch, dropout, gan_mode
// vanilla, pool_size 0, dataset_mode aligned) instead of cycle_gan's. Before a resume's merge, so
// a checkpoint's values still win over these.
void apply_model_defaults(TrainOptions& opt, const std::map<std::string, bool>& given);

// The position of `value` among an option's named `choices`, for the parsers of --preprocess,
// --gan-mode and --lr-policy (whose rows offer the same lists). Throws a usage Error
// "FLAG VALUE is not one of A, B, C" for any other value.
size_t choice_index(const std::vector<std::string>& choices, const std::string& value, const std::string& flag);

// Assigns one option from its textual value (as to_map writes it).
void set_option(TrainOptions& opt, const std::string& key, const std::string& value);

// The option names (snake_case) given explicitly on the command line.
std::map<std::string, bool> given_options(const CLI::App& cmd, Command command = Command::kTrain);

}  // namespace cg
