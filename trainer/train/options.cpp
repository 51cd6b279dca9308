#include "trainer/train/options.h"

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iomanip>
#include <limits>
#include <sstream>
#include <vector>

namespace cg {

namespace {

std::string kebab(std::string s) {
  for (auto& c : s)
    if (c == '_') c = '-';
  return s;
}

// The shortest text that reads back as exactly `v` (so checkpoint options compare exactly and
// train_opt.txt shows 0.0002, not 0.00020000000000000001).
std::string format_double(double v) {
  for (int precision = 6; precision < 17; ++precision) {
    std::ostringstream s;
    s << std::setprecision(precision) << v;
    if (std::stod(s.str()) == v) return s.str();
  }
  std::ostringstream s;
  s << std::setprecision(17) << v;
  return s.str();
}

// One row per option: how to read, write and register it. Keeping every option in a single
// table means train_opt.txt, the checkpoint and the command line can never disagree on names.
// Which command line an option appears on; every option is recorded either way.
enum Scope { kBoth, kTrainOnly, kDistillOnly, kNoCommandLine };

struct OptionRow {
  const char* key;
  const char* help;
  std::function<std::string(const TrainOptions&)> get;
  std::function<void(TrainOptions&, const std::string&)> set;
  std::function<CLI::Option*(CLI::App&, TrainOptions&, const std::string&)> add;
  Scope scope = kBoth;

  bool on(Command c) const {
    return scope == kBoth || (scope == kTrainOnly && c == Command::kTrain) ||
           (scope == kDistillOnly && c == Command::kDistill);
  }
};

template <typename T>
OptionRow row(const char* key, T TrainOptions::*member, const char* help, Scope scope = kBoth) {
  OptionRow r;
  r.scope = scope;
  r.key = key;
  r.help = help;
  r.get = [member](const TrainOptions& o) {
    if constexpr (std::is_same_v<T, std::string>) {
      return o.*member;
    } else if constexpr (std::is_same_v<T, bool>) {
      return std::string(o.*member ? "true" : "false");
    } else if constexpr (std::is_same_v<T, double>) {
      return format_double(o.*member);
    } else {
      if (o.*member == std::numeric_limits<T>::max()) return std::string("inf");
      return std::to_string(o.*member);
    }
  };
  r.set = [member, key](TrainOptions& o, const std::string& v) {
    try {
      if constexpr (std::is_same_v<T, std::string>) {
        o.*member = v;
      } else if constexpr (std::is_same_v<T, bool>) {
        if (v != "true" && v != "false") throw std::invalid_argument(v);
        o.*member = v == "true";
      } else if constexpr (std::is_same_v<T, double>) {
        o.*member = std::stod(v);
      } else {
        o.*member = v == "inf" ? std::numeric_limits<T>::max() : static_cast<T>(std::stoll(v));
      }
    } catch (const std::exception&) {
      throw Error(ErrorKind::kUsage, std::string("option ") + key + ": bad value '" + v + "'");
    }
  };
  r.add = [member](CLI::App& app, TrainOptions& o, const std::string& names) -> CLI::Option* {
    if constexpr (std::is_same_v<T, bool>) {
      return app.add_flag(names, o.*member);
    } else {
      // The last occurrence wins, as with argparse, so scripts can append overrides.
      return app.add_option(names, o.*member)
          ->capture_default_str()
          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    }
  };
  return r;
}

const std::vector<OptionRow>& table() {
  using O = TrainOptions;
  static const std::vector<OptionRow> rows = {
      row("dataroot", &O::dataroot, "dataset folder with trainA, trainB (and testA, testB)"),
      row("name", &O::name, "experiment name: checkpoints and logs go to CHECKPOINTS_DIR/NAME"),
      row("checkpoints_dir", &O::checkpoints_dir, "where experiments are saved"),
      row("direction", &O::direction, "AtoB or BtoA (BtoA swaps the domains)"),
      row("batch_size", &O::batch_size, "input batch size"),
      row("load_size", &O::load_size, "scale images to this size"),
      row("crop_size", &O::crop_size, "then crop to this size"),
      row("preprocess", &O::preprocess, "resize_and_crop | crop | scale_width | scale_width_and_crop | none"),
      row("dataset_mode", &O::dataset_mode,
          "unaligned (trainA, trainB: cycle_gan's default) | aligned (train/ of A|B images side by side: pix2pix's "
          "default)",
          kTrainOnly),
      row("no_flip", &O::no_flip, "do not flip images horizontally for augmentation"),
      row("max_dataset_size", &O::max_dataset_size,
          "use at most this many images per domain, the first in sorted order (default: all)"),
      row("serial_batches", &O::serial_batches,
          "take images in order and pair A[i] with B[i], instead of shuffling and drawing B at random"),
      row("num_threads", &O::num_threads, "threads decoding and augmenting images"),
      row("netG", &O::netG, "generator: resnet_9blocks | resnet_6blocks (any resnet_Nblocks) | unet_256 | unet_128",
          kTrainOnly),
      row("netD", &O::netD,
          "discriminator: basic (70x70 PatchGAN) | n_layers (--n-layers-D layers) | pixel (1x1 PatchGAN)"),
      row("ngf", &O::ngf, "generator filters in the last conv layer", kTrainOnly),
      row("ndf", &O::ndf, "discriminator filters in the first conv layer"),
      row("n_layers_D", &O::n_layers_D, "discriminator layers when netD is n_layers"),
      row("norm", &O::norm,
          "normalisation layers of the generators and discriminators: instance | batch (BatchNorm with running "
          "statistics) | none"),
      row("no_dropout", &O::no_dropout,
          "the generator trains without dropout (the cycle_gan default); --dropout puts Dropout(0.5) in its residual "
          "blocks",
          kTrainOnly),
      row("init_type", &O::init_type, "weight initialisation: normal | xavier | kaiming | orthogonal"),
      row("init_gain", &O::init_gain, "scale for normal, xavier and orthogonal"),
      row("gan_mode", &O::gan_mode,
          "GAN objective: lsgan | vanilla | wgangp. wgangp is the official WGAN loss (-mean D(real), +mean D(fake)) "
          "plus, unlike the official cycle_gan model, which never applies it, the official gradient penalty "
          "(mixed, lambda 10) added to each discriminator's loss; not with --amp fp16"),
      row("lambda_A", &O::lambda_A, "weight of the cycle loss A -> B -> A", kTrainOnly),
      row("lambda_B", &O::lambda_B, "weight of the cycle loss B -> A -> B", kTrainOnly),
      row("lambda_identity", &O::lambda_identity, "weight of the identity loss, relative to lambda_A/lambda_B",
          kTrainOnly),
      row("lambda_L1", &O::lambda_L1, "pix2pix: weight of the L1 loss between G(A) and the true B", kTrainOnly),
      row("pool_size", &O::pool_size, "size of the buffers of generated images the discriminators see", kTrainOnly),
      row("lr", &O::lr, "initial Adam learning rate"),
      row("beta1", &O::beta1, "Adam beta1 (beta2 is 0.999)"),
      row("lr_policy", &O::lr_policy,
          "learning-rate policy, stepped at the end of each epoch: linear (constant for --n-epochs, then linear "
          "decay to zero over --n-epochs-decay) | step (x0.1 every --lr-decay-iters epochs) | cosine (cosine "
          "annealing to zero over --n-epochs epochs) | plateau (x0.2 after 6 epochs without a 1% improvement of the "
          "epoch's mean generator loss; the official code feeds it a constant 0, which cuts the lr every 6 epochs)"),
      row("lr_decay_iters", &O::lr_decay_iters, "with --lr-policy step: multiply the lr by 0.1 every this many epochs"),
      row("n_epochs", &O::n_epochs, "epochs at the initial learning rate"),
      row("n_epochs_decay", &O::n_epochs_decay, "epochs of linear decay to zero"),
      row("epoch_count", &O::epoch_count, "number of the first epoch (the official way to resume a schedule)"),
      row("save_latest_freq", &O::save_latest_freq, "save the latest checkpoint every this many iterations"),
      row("save_epoch_freq", &O::save_epoch_freq, "keep a checkpoint snapshot every this many epochs"),
      row("print_freq", &O::print_freq, "log losses every this many iterations"),
      row("display_freq", &O::display_freq, "refresh the sample images every this many iterations"),
      row("continue_train", &O::continue_train, "resume exactly from the latest checkpoint"),
      row("seed", &O::seed, "random seed; -1 draws one (recorded in the checkpoint)"),
      row("device", &O::device, "cpu | cuda | cuda:N | auto"),
      row("threads", &O::threads, "compute threads (0: LibTorch's default)"),
      row("max_iters", &O::max_iters, "stop after this many iterations in total, saving latest (0: no limit)"),
      row("deterministic", &O::deterministic,
          "CUDA: auto | on | off. on = deterministic kernels, so a resume continues bitwise; off = cuDNN "
          "autotuning, faster, resume not bitwise; auto = on when --seed is given (the CPU is always exact)"),
      row("fused_adam", &O::fused_adam, "auto | on | off: one fused Adam kernel per step (auto: on for CUDA)"),
      row("amp", &O::amp, "mixed precision: off | bf16 | fp16 (fp16 needs CUDA and scales the loss)"),
      row("check_sync", &O::check_sync,
          "under torchrun: compare a checksum of the weights across ranks every N iterations and stop if they "
          "differ (0: never)"),
      row("dist_timeout", &O::dist_timeout,
          "under torchrun: seconds a collective may wait for the other ranks before the run stops with an error"),
      row("model", &O::model,
          "cycle_gan | pix2pix (paired: one generator A -> B, a discriminator on (A, B) pairs; the options the "
          "command line leaves out take pix2pix's defaults: --netG unet_256 --norm batch --dropout --gan-mode vanilla "
          "--pool-size 0 --dataset-mode aligned)",
          kTrainOnly),
      row("teacher", &O::teacher, "the trained generator (G.pt) to distil", kDistillOnly),
      row("student", &O::student,
          "student preset: fast (resnet_6blocks, ngf 16) | tiny (mobile_resnet_9blocks, ngf 16)", kDistillOnly),
      row("student_ngf", &O::student_ngf, "student filters in the last conv layer (default: the preset's)",
          kDistillOnly),
      row("student_blocks", &O::student_blocks, "student residual blocks (default: the preset's)", kDistillOnly),
      row("student_block", &O::student_block,
          "student residual blocks: resnet | mobile (depthwise-separable) (default: the preset's)", kDistillOnly),
      row("lambda_recon", &O::lambda_recon, "weight of the L1 loss between student and teacher outputs", kDistillOnly),
      row("lambda_feat", &O::lambda_feat,
          "weight of the feature distillation loss (MSE through learned 1x1 convs; 0: off)", kDistillOnly),
      row("lambda_gan", &O::lambda_gan, "weight of the student's LSGAN loss against real target images", kDistillOnly),
  };
  return rows;
}

const OptionRow& find_row(const std::string& key) {
  for (const auto& r : table())
    if (r.key == key) return r;
  throw Error(ErrorKind::kUsage, "unknown option " + key);
}

}  // namespace

int TrainOptions::n_blocks() const {
  // The official names are resnet_9blocks and resnet_6blocks; any resnet_Nblocks is accepted
  // (small ones make quick experiments and tests).
  const std::string pre = "resnet_", post = "blocks";
  if (netG.size() > pre.size() + post.size() && netG.compare(0, pre.size(), pre) == 0 &&
      netG.compare(netG.size() - post.size(), post.size(), post) == 0) {
    const std::string digits = netG.substr(pre.size(), netG.size() - pre.size() - post.size());
    if (digits.size() <= 2 && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::stoi(digits);
  }
  throw Error(ErrorKind::kUsage,
              "--netG " + netG +
                  " is not supported (resnet_9blocks, resnet_6blocks, another resnet_Nblocks, unet_256 or unet_128)");
}

std::string TrainOptions::experiment_dir() const { return (std::filesystem::path(checkpoints_dir) / name).string(); }

void TrainOptions::validate() const {
  auto need = [](bool ok, const std::string& what) {
    if (!ok) throw Error(ErrorKind::kUsage, what);
  };
  need(!dataroot.empty(), "--dataroot is required");
  if (netG != "unet_128" && netG != "unet_256") n_blocks();
  need(init_type == "normal" || init_type == "xavier" || init_type == "kaiming" || init_type == "orthogonal",
       "--init-type " + init_type + " is not supported (normal, xavier, kaiming or orthogonal)");
  need(direction == "AtoB" || direction == "BtoA", "--direction must be AtoB or BtoA, not " + direction);
  need(preprocess == "resize_and_crop" || preprocess == "crop" || preprocess == "scale_width" ||
           preprocess == "scale_width_and_crop" || preprocess == "none",
       "--preprocess " + preprocess + " is not one of resize_and_crop, crop, scale_width, scale_width_and_crop, none");
  need(batch_size >= 1, "--batch-size must be at least 1");
  need(crop_size >= 16 && crop_size % 4 == 0, "--crop-size must be a multiple of 4 and at least 16");
  need(load_size >= 8, "--load-size must be at least 8");
  if (preprocess == "resize_and_crop" || preprocess == "scale_width_and_crop")
    need(load_size >= crop_size, "--load-size (" + std::to_string(load_size) + ") must be at least --crop-size (" +
                                     std::to_string(crop_size) + ") with --preprocess " + preprocess);
  need(ngf >= 1 && ndf >= 1, "--ngf and --ndf must be positive");
  need(n_layers_D >= 1 && n_layers_D <= 6, "--n-layers-D must be between 1 and 6");
  need(max_dataset_size >= 1, "--max-dataset-size must be positive");
  need(num_threads >= 1 && num_threads <= 64, "--num-threads must be between 1 and 64");
  need(pool_size >= 0, "--pool-size must not be negative");
  need(lambda_A >= 0 && lambda_B >= 0 && lambda_identity >= 0, "the lambdas must not be negative");
  need(lr > 0 && beta1 >= 0 && beta1 < 1, "--lr must be positive and --beta1 in [0, 1)");
  need(n_epochs >= 0 && n_epochs_decay >= 0 && n_epochs + n_epochs_decay >= 1,
       "--n-epochs + --n-epochs-decay must be at least 1");
  need(epoch_count >= 1, "--epoch-count must be at least 1");
  need(epoch_count <= last_epoch(), "--epoch-count " + std::to_string(epoch_count) + " is past the last epoch (" +
                                        std::to_string(last_epoch()) + " = n_epochs + n_epochs_decay)");
  need(save_latest_freq >= 1 && save_epoch_freq >= 1 && print_freq >= 1 && display_freq >= 1,
       "the save, print and display frequencies must be positive");
  need(seed >= -1, "--seed must be -1 (random) or non-negative");
  need(threads >= 0, "--threads must not be negative");
  need(max_iters >= 0, "--max-iters must not be negative");
  need(check_sync >= 0, "--check-sync must not be negative");
  need(dist_timeout >= 1, "--dist-timeout must be at least 1 second");
  auto one_of = [&](const std::string& v, std::initializer_list<const char*> allowed, const std::string& flag) {
    std::string list;
    for (const char* a : allowed) {
      if (v == a) return;
      list += (list.empty() ? "" : ", ") + std::string(a);
    }
    need(false, flag + " " + v + " is not one of " + list);
  };
  one_of(deterministic, {"auto", "on", "off"}, "--deterministic");
  one_of(fused_adam, {"auto", "on", "off"}, "--fused-adam");
  one_of(amp, {"off", "bf16", "fp16"}, "--amp");
  one_of(netD, {"basic", "n_layers", "pixel"}, "--netD");
  one_of(norm, {"instance", "batch", "none"}, "--norm");
  one_of(gan_mode, {"lsgan", "vanilla", "wgangp"}, "--gan-mode");
  one_of(lr_policy, {"linear", "step", "plateau", "cosine"}, "--lr-policy");
  need(lr_decay_iters >= 1, "--lr-decay-iters must be at least 1");
  need(lr_policy != "cosine" || n_epochs >= 1,
       "--lr-policy cosine anneals over --n-epochs epochs (T_max), which must be at least 1");
  // fp16 training scales the loss; the gradient penalty differentiates D's input gradient, which
  // would need that scaling undone inside the penalty, and a wrong unscale is silent.
  need(gan_mode != "wgangp" || amp != "fp16",
       "--gan-mode wgangp does not work with --amp fp16 (its gradient penalty would need its own loss scaling); "
       "use --amp bf16 or off");
  one_of(model, {"cycle_gan", "pix2pix", "distill"}, "the model");
  one_of(dataset_mode, {"unaligned", "aligned"}, "--dataset-mode");
  need(lambda_L1 >= 0, "--lambda-L1 must not be negative");
  if (model == "distill") {
    need(student_ngf >= 1 && student_blocks >= 0, "--student-ngf must be positive and --student-blocks not negative");
    one_of(student_block, {"resnet", "mobile"}, "--student-block");
    // The student's GAN term is LSGAN by design (see distiller.h); another mode would be ignored.
    need(gan_mode == "lsgan", "--gan-mode " + gan_mode + ": distill's GAN term is always lsgan");
    need(lambda_recon >= 0 && lambda_feat >= 0 && lambda_gan >= 0, "the lambdas must not be negative");
  }
}

std::map<std::string, std::string> TrainOptions::to_map() const {
  std::map<std::string, std::string> m;
  for (const auto& r : table()) m[r.key] = r.get(*this);
  return m;
}

std::string TrainOptions::to_text() const {
  const TrainOptions defaults;
  std::ostringstream s;
  s << "----------------- Options ---------------\n";
  for (const auto& r : table()) {
    const std::string v = r.get(*this), d = r.get(defaults);
    s << std::setw(25) << std::right << r.key << ": " << std::setw(30) << std::left << v;
    if (v != d) s << "\t[default: " << d << "]";
    s << "\n";
  }
  s << "----------------- End -------------------\n";
  return s.str();
}

void add_train_options(CLI::App& cmd, TrainOptions& opt, Command command) {
  for (const auto& r : table()) {
    if (!r.on(command)) continue;
    const std::string snake = r.key, keb = kebab(snake);
    std::string names = "--" + keb;
    if (keb != snake) names += ",--" + snake;
    // The official --no_dropout only ever sets true (and cycle_gan defaults it to true); --dropout
    // is the way back.
    if (snake == "no_dropout") names += ",!--dropout";
    r.add(cmd, opt, names)->description(r.help)->group("Options");
  }
  if (command == Command::kDistill) return;
  // Official options with a single possible value here: accepted so official commands run as
  // they are, refused with a message when they ask for something else.
  static std::string phase = "train", gpu_ids;
  static int64_t input_nc = 3, output_nc = 3;
  static bool no_html = false;
  static int64_t display_id = 1;
  auto* g = &cmd;
  g->add_option("--phase", phase, "only train")
      ->check(CLI::IsMember({"train"}))
      ->capture_default_str()
      ->group("Accepted for compatibility");
  g->add_option("--input-nc,--input_nc", input_nc, "only 3 (RGB)")
      ->check(CLI::Range(3, 3))
      ->capture_default_str()
      ->group("Accepted for compatibility");
  g->add_option("--output-nc,--output_nc", output_nc, "only 3 (RGB)")
      ->check(CLI::Range(3, 3))
      ->capture_default_str()
      ->group("Accepted for compatibility");
  g->add_flag("--no-html,--no_html", no_html, "ignored: the HTML page costs nothing")
      ->group("Accepted for compatibility");
  g->add_option("--display-id,--display_id", display_id, "ignored: no visdom; see loss_log.csv and web/index.html")
      ->group("Accepted for compatibility");
  g->add_option("--gpu-ids,--gpu_ids", gpu_ids,
                "-1 means --device cpu, N means --device cuda:N (when --device is not given)")
      ->group("Accepted for compatibility")
      ->each([&opt, &cmd](const std::string& v) {
        if (cmd.count("--device") > 0) return;
        if (v == "-1") {
          opt.device = "cpu";
        } else {
          const auto comma = v.find(',');
          opt.device = "cuda:" + v.substr(0, comma);
        }
      });
}

bool is_fixed_by_checkpoint(const std::string& key) {
  static const char* fixed[] = {"direction",
                                "batch_size",
                                "load_size",
                                "crop_size",
                                "preprocess",
                                "no_flip",
                                "max_dataset_size",
                                "serial_batches",
                                "netG",
                                "netD",
                                "ngf",
                                "ndf",
                                "n_layers_D",
                                "norm",
                                "no_dropout",
                                "init_type",
                                "init_gain",
                                "gan_mode",
                                "lambda_A",
                                "lambda_B",
                                "lambda_identity",
                                "pool_size",
                                "lr",
                                "beta1",
                                "lr_policy",
                                "lr_decay_iters",
                                "seed",
                                "model",
                                "dataset_mode",
                                "lambda_L1",
                                "teacher",
                                "student",
                                "student_ngf",
                                "student_blocks",
                                "student_block",
                                "lambda_recon",
                                "lambda_feat",
                                "lambda_gan"};
  for (const char* f : fixed)
    if (key == f) return true;
  return false;
}

void set_option(TrainOptions& opt, const std::string& key, const std::string& value) { find_row(key).set(opt, value); }

void apply_model_defaults(TrainOptions& opt, const std::map<std::string, bool>& given) {
  auto is_given = [&](const char* key) {
    const auto g = given.find(key);
    return g != given.end() && g->second;
  };
  if (!is_given("model")) return;
  if (opt.model != "cycle_gan" && opt.model != "pix2pix")
    throw Error(ErrorKind::kUsage, "--model " + opt.model +
                                       " is not supported (cycle_gan or pix2pix; distillation is cg-trainer distill)");
  if (opt.model != "pix2pix") return;
  // The official pix2pix_model.py's modify_commandline_options and option defaults.
  static const std::pair<const char*, const char*> pix2pix[] = {
      {"netG", "unet_256"}, {"norm", "batch"},           {"no_dropout", "false"}, {"gan_mode", "vanilla"},
      {"pool_size", "0"},   {"dataset_mode", "aligned"}, {"lambda_L1", "100"}};
  for (const auto& [key, value] : pix2pix)
    if (!is_given(key)) set_option(opt, key, value);
}

std::map<std::string, bool> given_options(const CLI::App& cmd, Command command) {
  std::map<std::string, bool> given;
  for (const auto& r : table()) given[r.key] = r.on(command) && cmd.count("--" + kebab(r.key)) > 0;
  return given;
}

bool is_per_run(const std::string& key) {
  static const char* per_run[] = {"continue_train", "max_iters",   "device",     "threads",
                                  "num_threads",    "epoch_count", "check_sync", "dist_timeout"};
  return std::any_of(std::begin(per_run), std::end(per_run), [&](const char* k) { return key == k; });
}

}  // namespace cg
