#include "trainer/train/options.h"

#include "trainer/data/preprocess.h"
#include "trainer/train/losses.h"
#include "trainer/train/schedule.h"
#include "trainer/train/student-presets.h"

#include <algorithm>
#include <cmath>
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

// One row per option: how to read, write and register it, what values it takes and what a
// resume does with it. Keeping every fact of an option in its row means train_opt.txt, the
// checkpoint, the command line and validate() can never disagree.
// Which command line an option appears on; every option is recorded either way.
enum Scope { kBoth, kTrainOnly, kDistillOnly, kNoCommandLine };

// What --continue-train does with an option (is_fixed_by_checkpoint, is_per_run).
enum class OnResume {
  kTaken,   // the checkpoint's value unless given; may be changed (a moved --dataroot, --n-epochs)
  kFixed,   // the checkpoint's value; given with another value, refused
  kPerRun,  // this run's own, never the checkpoint's; the ranks of a distributed run may differ in it
};

constexpr double kInf = std::numeric_limits<double>::infinity();

struct OptionRow {
  const char* key;
  const char* help;
  std::function<std::string(const TrainOptions&)> get;
  std::function<void(TrainOptions&, const std::string&)> set;
  std::function<CLI::Option*(CLI::App&, TrainOptions&, const std::string&)> add;
  Scope scope = kBoth;
  OnResume resume = OnResume::kTaken;
  // A fact of one machine (a path, its threads, its device): the ranks of a distributed run may
  // differ in it. Every other option decides what the ranks compute or which collectives they
  // run, so they must all agree on it.
  bool per_machine = false;
  // The values it takes: one of `choices`, or a number within the bounds (excluded where said).
  std::vector<std::string> choices;
  double min = -kInf, max = kInf;
  bool min_excluded = false, max_excluded = false;

  bool on(Command c) const {
    return scope == kBoth || (scope == kTrainOnly && c == Command::kTrain) ||
           (scope == kDistillOnly && c == Command::kDistill);
  }
  bool checked() const { return !choices.empty() || min > -kInf || max < kInf; }

  OptionRow fixed() && {
    resume = OnResume::kFixed;
    return std::move(*this);
  }
  OptionRow per_run() && {
    resume = OnResume::kPerRun;
    return std::move(*this);
  }
  OptionRow machine_local() && {
    per_machine = true;
    return std::move(*this);
  }
  OptionRow one_of(std::vector<std::string> values) && {
    choices = std::move(values);
    return std::move(*this);
  }
  OptionRow at_least(double lo) && {
    min = lo;
    return std::move(*this);
  }
  OptionRow between(double lo, double hi) && {
    min = lo;
    max = hi;
    return std::move(*this);
  }
  OptionRow above(double lo) && {
    min = lo;
    min_excluded = true;
    return std::move(*this);
  }
  OptionRow below(double hi) && {
    max = hi;
    max_excluded = true;
    return std::move(*this);
  }
};

std::string choice_list(const std::vector<std::string>& choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  return list;
}

// "at least 1", "between 1 and 6", "above 0", "at least 0 and below 1".
std::string bounds_text(const OptionRow& r) {
  std::string lo, hi;
  if (r.min > -kInf) lo = (r.min_excluded ? "above " : "at least ") + format_double(r.min);
  if (r.max < kInf) hi = (r.max_excluded ? "below " : "at most ") + format_double(r.max);
  if (!r.min_excluded && !r.max_excluded && !lo.empty() && !hi.empty())
    return "between " + format_double(r.min) + " and " + format_double(r.max);
  return lo + (lo.empty() || hi.empty() ? "" : " and ") + hi;
}

// The one check of a row's values: CLI11 runs it on the command line (its message then follows
// the option's name), validate() on values from a checkpoint or set_option. CLI11's IsMember and
// Range decide; the message says what the option takes.
CLI::Validator value_check(const OptionRow& r) {
  if (!r.choices.empty()) {
    const CLI::Validator member = CLI::IsMember(r.choices);
    const std::string list = choice_list(r.choices);
    return CLI::Validator(
        [member, list](std::string& v) { return member(v).empty() ? std::string() : v + " is not one of " + list; },
        member.get_description());
  }
  // An excluded bound becomes the nearest double inside it, for CLI11's inclusive Range.
  const CLI::Validator range = CLI::Range(r.min_excluded ? std::nextafter(r.min, kInf) : r.min,
                                          r.max_excluded ? std::nextafter(r.max, -kInf) : r.max);
  const std::string bounds = bounds_text(r);
  return CLI::Validator(
      [range, bounds](std::string& v) {
        return range(v).empty() ? std::string() : v + " is out of range: it must be " + bounds;
      },
      bounds);
}

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
      row("dataroot", &O::dataroot, "dataset folder with trainA, trainB (and testA, testB)").machine_local(),
      row("name", &O::name, "experiment name: checkpoints and logs go to CHECKPOINTS_DIR/NAME"),
      row("checkpoints_dir", &O::checkpoints_dir, "where experiments are saved").machine_local(),
      row("direction", &O::direction, "AtoB or BtoA (BtoA swaps the domains)").fixed().one_of({"AtoB", "BtoA"}),
      row("batch_size", &O::batch_size, "input batch size").fixed().at_least(1),
      row("load_size", &O::load_size, "scale images to this size").fixed().at_least(8),
      row("crop_size", &O::crop_size, "then crop to this size").fixed().at_least(16),
      row("preprocess", &O::preprocess,
          "how images are resized and cropped, as the official modes (none and scale_width keep each image's size, "
          "rounded to what the generator takes)")
          .fixed()
          .one_of(preprocess_mode_names()),
      row("dataset_mode", &O::dataset_mode,
          "unaligned (trainA, trainB: cycle_gan's default) | aligned (train/ of A|B images side by side: pix2pix's "
          "default)",
          kTrainOnly)
          .fixed()
          .one_of({"unaligned", "aligned"}),
      row("no_flip", &O::no_flip, "do not flip images horizontally for augmentation").fixed(),
      row("max_dataset_size", &O::max_dataset_size,
          "use at most this many images per domain, the first in sorted order (default: all)")
          .fixed()
          .at_least(1),
      row("serial_batches", &O::serial_batches,
          "take images in order and pair A[i] with B[i], instead of shuffling and drawing B at random")
          .fixed(),
      row("num_threads", &O::num_threads, "threads decoding and augmenting images")
          .per_run()
          .machine_local()
          .between(1, 64),
      row("netG", &O::netG, "generator: resnet_9blocks | resnet_6blocks (any resnet_Nblocks) | unet_256 | unet_128",
          kTrainOnly)
          .fixed(),
      row("netD", &O::netD,
          "discriminator: basic (70x70 PatchGAN) | n_layers (--n-layers-D layers) | pixel (1x1 PatchGAN)")
          .fixed()
          .one_of({"basic", "n_layers", "pixel"}),
      row("ngf", &O::ngf, "generator filters in the last conv layer", kTrainOnly).fixed().at_least(1),
      row("ndf", &O::ndf, "discriminator filters in the first conv layer").fixed().at_least(1),
      row("n_layers_D", &O::n_layers_D, "discriminator layers when netD is n_layers").fixed().between(1, 6),
      row("norm", &O::norm,
          "normalisation layers of the generators and discriminators: instance | batch (BatchNorm with running "
          "statistics) | none")
          .fixed()
          .one_of({"instance", "batch", "none"}),
      row("no_dropout", &O::no_dropout,
          "the generator trains without dropout (the cycle_gan default); --dropout puts Dropout(0.5) in its residual "
          "blocks",
          kTrainOnly)
          .fixed(),
      row("init_type", &O::init_type, "weight initialisation: normal | xavier | kaiming | orthogonal")
          .fixed()
          .one_of({"normal", "xavier", "kaiming", "orthogonal"}),
      row("init_gain", &O::init_gain, "scale for normal, xavier and orthogonal").fixed(),
      row("gan_mode", &O::gan_mode,
          "GAN objective: lsgan | vanilla | wgangp. wgangp is the official WGAN loss (-mean D(real), +mean D(fake)) "
          "plus, unlike the official cycle_gan model, which never applies it, the official gradient penalty "
          "(mixed, lambda 10) added to each discriminator's loss; not with --amp fp16")
          .fixed()
          .one_of(gan_mode_names()),
      row("lambda_A", &O::lambda_A, "weight of the cycle loss A -> B -> A", kTrainOnly).fixed().at_least(0),
      row("lambda_B", &O::lambda_B, "weight of the cycle loss B -> A -> B", kTrainOnly).fixed().at_least(0),
      row("lambda_identity", &O::lambda_identity, "weight of the identity loss, relative to lambda_A/lambda_B",
          kTrainOnly)
          .fixed()
          .at_least(0),
      row("lambda_L1", &O::lambda_L1, "pix2pix: weight of the L1 loss between G(A) and the true B", kTrainOnly)
          .fixed()
          .at_least(0),
      row("lambda_temporal", &O::lambda_temporal,
          "weight of the temporal consistency loss (not in the official code; 0: off): each generator's output "
          "for a randomly, smoothly moved and slightly noisy copy of its input is pulled towards its output moved "
          "the same way, mean |G(W(x) + n) - W(G(x))| (ReReVST, Wang et al. 2020), which lowers flicker on video")
          .fixed()
          .at_least(0),
      row("pool_size", &O::pool_size, "size of the buffers of generated images the discriminators see", kTrainOnly)
          .fixed()
          .at_least(0),
      row("lr", &O::lr, "initial Adam learning rate").fixed().above(0),
      row("beta1", &O::beta1, "Adam beta1 (beta2 is 0.999)").fixed().at_least(0).below(1),
      row("lr_policy", &O::lr_policy,
          "learning-rate policy, stepped at the end of each epoch: linear (constant for --n-epochs, then linear "
          "decay to zero over --n-epochs-decay) | step (x0.1 every --lr-decay-iters epochs) | cosine (cosine "
          "annealing to zero over --n-epochs epochs) | plateau (x0.2 after 6 epochs without a 1% improvement of the "
          "epoch's mean generator loss; the official code feeds it a constant 0, which cuts the lr every 6 epochs)")
          .fixed()
          .one_of(lr_policy_names()),
      row("lr_decay_iters", &O::lr_decay_iters, "with --lr-policy step: multiply the lr by 0.1 every this many epochs")
          .fixed()
          .at_least(1),
      row("n_epochs", &O::n_epochs, "epochs at the initial learning rate").at_least(0),
      row("n_epochs_decay", &O::n_epochs_decay, "epochs of linear decay to zero").at_least(0),
      row("epoch_count", &O::epoch_count, "number of the first epoch (the official way to resume a schedule)")
          .per_run()
          .at_least(1),
      row("save_latest_freq", &O::save_latest_freq, "save the latest checkpoint every this many iterations")
          .at_least(1),
      row("save_epoch_freq", &O::save_epoch_freq, "keep a checkpoint snapshot every this many epochs").at_least(1),
      row("print_freq", &O::print_freq, "log losses every this many iterations").at_least(1),
      row("display_freq", &O::display_freq, "refresh the sample images every this many iterations").at_least(1),
      row("continue_train", &O::continue_train, "resume exactly from the latest checkpoint").per_run(),
      row("seed", &O::seed, "random seed; -1 draws one (recorded in the checkpoint)").fixed().at_least(-1),
      row("device", &O::device, "cpu | cuda | cuda:N | auto").per_run().machine_local(),
      row("threads", &O::threads, "compute threads (0: LibTorch's default)").per_run().machine_local().at_least(0),
      row("max_iters", &O::max_iters, "stop after this many iterations in total, saving latest (0: no limit)")
          .per_run()
          .at_least(0),
      row("deterministic", &O::deterministic,
          "CUDA: auto | on | off. on = deterministic kernels, so a resume continues bitwise; off = cuDNN "
          "autotuning, faster, resume not bitwise; auto = on when --seed is given (the CPU is always exact)")
          .one_of({"auto", "on", "off"}),
      row("fused_adam", &O::fused_adam, "auto | on | off: one fused Adam kernel per step (auto: on for CUDA)")
          .one_of({"auto", "on", "off"}),
      row("amp", &O::amp, "mixed precision: off | bf16 | fp16 (fp16 needs CUDA and scales the loss)")
          .one_of({"off", "bf16", "fp16"}),
      row("check_sync", &O::check_sync,
          "under torchrun: compare a checksum of the weights across ranks every N iterations and stop if they "
          "differ (0: never)")
          .per_run()
          .at_least(0),
      row("dist_timeout", &O::dist_timeout,
          "under torchrun: seconds a collective may wait for the other ranks before the run stops with an error")
          .per_run()
          .at_least(1),
      row("dist_overlap", &O::dist_overlap,
          "under torchrun on the CPU: 1 sends each gradient bucket while backward still runs, 0 after it (the "
          "same weights either way)")
          .per_run()
          .at_least(0),
      row("model", &O::model,
          "cycle_gan | pix2pix (paired: one generator A -> B, a discriminator on (A, B) pairs; the options the "
          "command line leaves out take pix2pix's defaults: --netG unet_256 --norm batch --dropout --gan-mode vanilla "
          "--pool-size 0 --dataset-mode aligned); distillation is cg-trainer distill",
          kTrainOnly)
          .fixed()
          .one_of({"cycle_gan", "pix2pix"}),
      row("teacher", &O::teacher, "the trained generator (G.pt) to distil", kDistillOnly).fixed(),
      row("student", &O::student, student_presets_help().c_str(), kDistillOnly).fixed(),
      row("student_ngf", &O::student_ngf, "student filters in the last conv layer (default: the preset's)",
          kDistillOnly)
          .fixed()
          .at_least(1),
      row("student_blocks", &O::student_blocks, "student residual blocks (default: the preset's)", kDistillOnly)
          .fixed()
          .at_least(0),
      row("student_block", &O::student_block,
          "student residual blocks: resnet | mobile (depthwise-separable) (default: the preset's)", kDistillOnly)
          .fixed()
          .one_of({"resnet", "mobile"}),
      row("student_s2d", &O::student_s2d,
          "student space-to-depth factor: 1, or 2 or 4 to fold that many pixels across into channels before the "
          "first conv, so that no conv runs at full resolution (default: the preset's)",
          kDistillOnly)
          .fixed()
          .at_least(0),
      row("lambda_recon", &O::lambda_recon, "weight of the L1 loss between student and teacher outputs", kDistillOnly)
          .fixed()
          .at_least(0),
      row("lambda_feat", &O::lambda_feat,
          "weight of the feature distillation loss (MSE through learned 1x1 convs; 0: off)", kDistillOnly)
          .fixed()
          .at_least(0),
      row("lambda_gan", &O::lambda_gan, "weight of the student's LSGAN loss against real target images", kDistillOnly)
          .fixed()
          .at_least(0),
  };
  return rows;
}

const OptionRow* lookup(const std::string& key) {
  for (const auto& r : table())
    if (r.key == key) return &r;
  return nullptr;
}

const OptionRow& find_row(const std::string& key) {
  if (const OptionRow* r = lookup(key)) return *r;
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
  // Each value on its own, by its row's check; the options of the other command keep their
  // defaults, which need not be values of this one (distill's unset --student-block).
  const Command command = model == "distill" ? Command::kDistill : Command::kTrain;
  for (const auto& r : table()) {
    if (!r.on(command) || !r.checked()) continue;
    const std::string problem = value_check(r)(r.get(*this));
    need(problem.empty(), "--" + kebab(r.key) + ": " + problem);
  }
  // Then the combinations. The generator's size rule is checked with the generator
  // (generator_options, distill_size_rule).
  if (netG != "unet_128" && netG != "unet_256") n_blocks();
  if (resizes_before_crop(parse_preprocess_mode(preprocess)))
    need(load_size >= crop_size, "--load-size (" + std::to_string(load_size) + ") must be at least --crop-size (" +
                                     std::to_string(crop_size) + ") with --preprocess " + preprocess);
  need(n_epochs + n_epochs_decay >= 1, "--n-epochs + --n-epochs-decay must be at least 1");
  need(epoch_count <= last_epoch(), "--epoch-count " + std::to_string(epoch_count) + " is past the last epoch (" +
                                        std::to_string(last_epoch()) + " = n_epochs + n_epochs_decay)");
  need(lr_policy != "cosine" || n_epochs >= 1,
       "--lr-policy cosine anneals over --n-epochs epochs (T_max), which must be at least 1");
  // fp16 training scales the loss; the gradient penalty differentiates D's input gradient, which
  // would need that scaling undone inside the penalty, and a wrong unscale is silent.
  need(gan_mode != "wgangp" || amp != "fp16",
       "--gan-mode wgangp does not work with --amp fp16 (its gradient penalty would need its own loss scaling); "
       "use --amp bf16 or off");
  // The student's GAN term is LSGAN by design (see distiller.h); another mode would be ignored.
  if (command == Command::kDistill)
    need(gan_mode == "lsgan", "--gan-mode " + gan_mode + ": distill's GAN term is always lsgan");
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
    CLI::Option* o = r.add(cmd, opt, names)->description(r.help)->group("Options");
    if (r.checked()) o->check(value_check(r));
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
  const OptionRow* r = lookup(key);
  return r && r->resume == OnResume::kFixed;
}

size_t choice_index(const std::vector<std::string>& choices, const std::string& value, const std::string& flag) {
  const auto it = std::find(choices.begin(), choices.end(), value);
  if (it == choices.end())
    throw Error(ErrorKind::kUsage, flag + " " + value + " is not one of " + choice_list(choices));
  return static_cast<size_t>(it - choices.begin());
}

void set_option(TrainOptions& opt, const std::string& key, const std::string& value) { find_row(key).set(opt, value); }

void apply_model_defaults(TrainOptions& opt, const std::map<std::string, bool>& given) {
  auto is_given = [&](const char* key) {
    const auto g = given.find(key);
    return g != given.end() && g->second;
  };
  if (!is_given("model") || opt.model != "pix2pix") return;
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
  const OptionRow* r = lookup(key);
  return r && r->resume == OnResume::kPerRun;
}

bool is_per_machine(const std::string& key) {
  const OptionRow* r = lookup(key);
  return r && r->per_machine;
}

}  // namespace cg
