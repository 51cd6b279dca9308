#include "trainer/train/train.h"

#include "common/atomic-file.h"
#include "common/error.h"
#include "engine/device.h"
#include "model/model-file.h"
#include "trainer/data/aligned-dataset.h"
#include "trainer/data/dataset.h"
#include "trainer/data/loader.h"
#include "trainer/report/progress.h"
#include "trainer/report/report.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/cycle-gan.h"
#include "trainer/train/distiller.h"
#include "trainer/train/distributed.h"
#include "trainer/train/pix2pix.h"
#include "trainer/train/run-mode.h"
#include "trainer/train/schedule.h"

#include <torch/cuda.h>
#include <torch/torch.h>
#include <opencv2/core/utility.hpp>

#include <malloc.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>

namespace cg {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
  g_signal.store(sig);
  // A second Ctrl-C kills at once; the atomic save keeps the last checkpoint valid even then.
  std::signal(sig, SIG_DFL);
}

// Installs the handlers for one training run and restores the previous ones after it.
struct SignalScope {
  struct sigaction old_int = {};
  struct sigaction old_term = {};
  SignalScope() {
    g_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int, nullptr);
    sigaction(SIGTERM, &old_term, nullptr);
  }
};

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The checkpoint a run resumes from, if any: that of --continue-train, or after a torchrun restart
// (torchrun starts every rank again with the same command after a failure) the latest one, when
// one was written. Only rank 0's folder is read: its bytes reach the other ranks through the
// process group, so that the machines of a run need no shared folder and no copy. Every rank
// decides alike, from what all of them report.
std::optional<CheckpointFile> resume_source(TrainOptions& opt, TrainingGroup& group, const fs::path& dir,
                                            std::ostream& out) {
  const World& world = group.world();
  const std::string latest = (dir / kLatestCheckpoint).string();
  std::error_code ec;
  const bool here = fs::exists(latest, ec);
  const bool wanted = opt.continue_train || world.restart_count > 0;
  const auto reports = group.gather(int64_t{here} + 2 * int64_t{wanted});
  if (std::any_of(reports.begin(), reports.end(), [&](int64_t r) { return (r >> 1) != (reports[0] >> 1); }))
    group.agree({{"resuming (--continue-train, or a torchrun restart)", wanted ? "yes" : "no"}});  // throws
  if (!wanted) return std::nullopt;
  std::string holders;  // the other ranks with a checkpoint in their own folder
  for (size_t r = 1; r < reports.size(); ++r)
    if (reports[r] & 1) holders += (holders.empty() ? "" : ", ") + std::to_string(r);
  if (!(reports[0] & 1)) {
    const std::string who = "rank " + std::to_string(world.rank) + ": ";
    const std::string none = world.leader() ? "no checkpoint " + latest : "rank 0 has no checkpoint";
    if (!holders.empty())
      throw Error(ErrorKind::kUsage,
                  who + none + " to resume from, but rank(s) " + holders +
                      " have one in their own folder: a resume reads rank 0's alone and sends it to the others "
                      "(launch the machine that holds it as node rank 0, or move it into rank 0's --checkpoints-dir)");
    if (opt.continue_train)
      throw Error(ErrorKind::kUsage,
                  (group.distributed() ? who : std::string()) + "--continue-train: " + none +
                      (group.distributed() ? " (check --checkpoints-dir and --name on rank 0's machine)"
                                           : " (check --checkpoints-dir and --name)"));
    return std::nullopt;  // restarted before the first save: the run starts again
  }
  if (!opt.continue_train) {
    opt.continue_train = true;
    out << "cg-trainer: torchrun restart " << world.restart_count << ": resuming from " << latest << "\n";
  }
  CheckpointFile file;
  std::optional<Error> failure;
  if (world.leader()) {
    try {
      file = read_checkpoint_file(latest);
    } catch (const Error& e) {
      failure = e;
    }
  }
  group.all_succeeded(failure);  // an unreadable file stops every rank with rank 0's reason
  const std::string source = group.gather(file.path)[0];
  group.broadcast(file.bytes, "rank 0's checkpoint " + source);
  if (!world.leader()) file.path = "rank 0's " + source;
  return file;
}

// Resume: the options the checkpoint fixes, taken before anything is built from them.
void resume_options(TrainOptions& opt, const std::map<std::string, bool>& given, const CheckpointFile& checkpoint) {
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  merge_checkpoint_options(opt, given, info.options, info.state.epoch, checkpoint.path);
}

// Validates the options and settles what they leave open (a relative --dataroot, a random
// --seed, --deterministic auto); train_opt.txt and the checkpoints record the settled values, so
// a resume repeats them. Returns distill's teacher, loaded once.
std::optional<LoadedModel> complete_options(TrainOptions& opt, const std::map<std::string, bool>& given) {
  std::optional<LoadedModel> teacher;
  if (opt.model == "distill") teacher = settle_distill_options(opt, given);
  opt.validate();
  settle_deterministic(opt, given);
  // Recorded absolute, so a resume from another working directory finds the data and the teacher.
  for (std::string* path : {&opt.dataroot, &opt.teacher}) {
    std::error_code ec;
    const auto abs = fs::absolute(*path, ec);
    if (!ec && !path->empty()) *path = abs.lexically_normal().string();
  }
  if (opt.seed < 0) opt.seed = static_cast<int64_t>(std::random_device{}() >> 1);  // recorded, so a resume stays exact
  return teacher;
}

// The sides every training image must have: those of the generator(s) it goes through. Checked
// before anything is written, so a crop that does not fit is refused with the rule it breaks.
SizeRule image_size_rule(const TrainOptions& opt, const std::optional<LoadedModel>& teacher) {
  return teacher ? distill_size_rule(opt, *teacher) : size_rule(generator_options(opt));
}

// The process-wide settings training runs under; returns the device it runs on.
c10::Device prepare_process(const TrainOptions& opt) {
  const c10::Device device = parse_device(opt.device);
  apply_run_mode(decide_run_mode(opt, device.is_cuda()));
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  // Every iteration frees and reallocates the same large activations. Above glibc's mmap
  // threshold each would be a fresh mapping whose pages the kernel zeroes on first touch (~9% of
  // a 256x256 CPU iteration in a profile); keeping them on the heap reuses the memory.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // The loader threads decode in parallel already; OpenCV's own thread pool inside them would
  // only compete with LibTorch's for the cores.
  cv::setNumThreads(0);
  return device;
}

DataOptions data_options(const TrainOptions& opt, const SizeRule& rule) {
  DataOptions d;
  d.dataroot = opt.dataroot;
  d.swap_domains = opt.direction == "BtoA";
  d.preprocess = {parse_preprocess_mode(opt.preprocess), opt.load_size, opt.crop_size, !opt.no_flip, rule};
  d.max_dataset_size = opt.max_dataset_size;
  d.serial_batches = opt.serial_batches;
  d.batch_size = opt.batch_size;
  return d;
}

// The checkpoint folder, rid of the temporary files of saves that a killed run never finished,
// with this run's train_opt.txt. The other ranks only need the folder for their own state: on
// another machine it is not rank 0's, and may not exist yet.
void prepare_folder(const fs::path& dir, const TrainOptions& opt, bool leader) {
  try {
    fs::create_directories(dir);
  } catch (const fs::filesystem_error& e) {
    throw Error(ErrorKind::kIo, dir.string() + ": cannot create the checkpoint folder (" + e.code().message() + ")");
  }
  if (!leader) return;
  remove_leftover_temporaries(dir.string());
  write_file_atomically((dir / "train_opt.txt").string(), opt.to_text());
}

// Where training starts: the first iteration of --epoch-count, or the checkpoint's position with
// its networks, optimizers and pools loaded into `model`.
TrainState starting_state(const TrainOptions& opt, const fs::path& dir, const std::optional<CheckpointFile>& checkpoint,
                          TrainableModel& model, int64_t iters_per_epoch, const World& world, std::ostream& out) {
  TrainState state;
  state.epoch = opt.epoch_count;
  state.seed = static_cast<uint64_t>(opt.seed);
  state.ranks = world.world_size;
  if (!checkpoint) return state;
  state = load_checkpoint(*checkpoint, model).state;
  if (state.ranks == world.world_size) {
    // Each rank's own state lives in its own machine's folder, beside where the checkpoint would be.
    if (!world.leader())
      if (const auto refused =
              load_rank_state(rank_state_path((dir / kLatestCheckpoint).string(), world.rank), model, state))
        // Pools and random state of another iteration would make the resume look exact without
        // being so; this rank's fresh ones make it plainly not bitwise.
        std::cerr << "cg-trainer: rank " << world.rank << ": warning: " << *refused
                  << "; this rank resumes with fresh image pools and random state, so the run continues from the "
                     "checkpoint, but not bitwise\n";
  } else {
    // The position is kept in items, so the epoch goes on where it was; the shards differ.
    out << "cg-trainer: resuming a run of " << state.ranks << " rank(s) with " << world.world_size
        << ": it continues from the checkpoint, but not bitwise as with the same number of ranks\n";
    state.epoch_iter = state.epoch_iter * state.ranks / world.world_size;
    state.ranks = world.world_size;
  }
  if (state.epoch_iter >= iters_per_epoch) {
    // The dataset shrank since the checkpoint: its epoch is over.
    out << "cg-trainer: warning: the dataset now has " << iters_per_epoch << " iterations per epoch, fewer than the "
        << state.epoch_iter << " the checkpoint had done in epoch " << state.epoch << "; starting epoch "
        << state.epoch + 1 << "\n";
    ++state.epoch;
    state.epoch_iter = 0;
  }
  return state;
}

// What the ranks must agree on before their first step besides the options: the kind of device
// (the backend), the data each rank found, and where each starts (a rank that found no
// checkpoint, or another one, would start elsewhere).
Facts run_facts(const TrainOptions& opt, const c10::Device& device, const TrainingData& data, const TrainState& state) {
  Facts facts = option_facts(opt);
  facts.emplace_back("device kind", device.is_cuda() ? "cuda" : "cpu");
  // Rank 0's copy of the data and another one of the same size differ in their names.
  auto names = [](const std::vector<std::string>& files) {
    uint64_t h = kFnvOffset;
    for (const auto& f : files) {
      const std::string name = fs::path(f).filename().string() + "/";
      h = fnv1a(name.data(), name.size(), h);
    }
    std::ostringstream s;
    s << std::hex << h;
    return s.str();
  };
  if (const auto* u = dynamic_cast<const UnalignedDataset*>(&data)) {
    facts.emplace_back("images in A", std::to_string(u->files_A().size()));
    facts.emplace_back("images in B", std::to_string(u->files_B().size()));
    facts.emplace_back("digest of the image names", names(u->files_A()) + "/" + names(u->files_B()));
  } else if (const auto* a = dynamic_cast<const AlignedDataset*>(&data)) {
    facts.emplace_back("aligned images", std::to_string(a->files().size()));
    facts.emplace_back("digest of the image names", names(a->files()));
  }
  facts.emplace_back("iterations per epoch", std::to_string(data.batches_per_epoch()));
  facts.emplace_back("starting epoch", std::to_string(state.epoch));
  facts.emplace_back("starting iteration of that epoch", std::to_string(state.epoch_iter));
  facts.emplace_back("iterations already done", std::to_string(state.total_iters));
  return facts;
}

void print_banner(std::ostream& out, const TrainOptions& opt, const fs::path& dir, const TrainingData& data,
                  const c10::Device& device, TrainableModel& model, const TrainState& state) {
  out << "cg-trainer: " << data.describe() << ", " << data.batches_per_epoch() << " iterations per epoch";
  if (state.ranks > 1)
    out << " on each of " << state.ranks << " ranks (batch " << opt.batch_size << " per rank, "
        << opt.batch_size * state.ranks << " in all)";
  out << "; " << (device.is_cuda() ? device.str() : "cpu") << ", " << torch::get_num_threads()
      << " compute threads; seed " << static_cast<uint64_t>(opt.seed) << "\n"
      << "cg-trainer: " << model.describe() << "; checkpoints in " << dir.string() << "\n"
      << "cg-trainer: " << model.mode.describe() << "\n";
  if (opt.continue_train)
    out << "cg-trainer: resuming " << (dir / kLatestCheckpoint).string() << " at epoch " << state.epoch
        << ", iteration " << state.epoch_iter << " (" << state.total_iters << " done)\n";
  out << std::flush;
}

std::unique_ptr<TrainableModel> make_model(const TrainOptions& opt, const c10::Device& device, uint64_t seed, int rank,
                                           std::optional<LoadedModel> teacher) {
  if (opt.model == "distill") return std::make_unique<Distiller>(opt, device, std::move(*teacher), seed, rank);
  if (opt.model == "pix2pix") return std::make_unique<Pix2Pix>(opt, device, seed, rank);
  return std::make_unique<CycleGan>(opt, device, seed, rank);
}

// Why a run ends before its last epoch.
enum class Stop { kNo, kSignal, kMaxIters };

// Losses summed over a span of iterations on the device, for their means: one read per mean.
struct LossSum {
  DeviceLosses sum;
  int64_t count = 0;

  void add(const DeviceLosses& l) {
    sum += l;
    ++count;
  }
  // As a checkpoint saved them; the float64 sums continue bit for bit.
  void restore(const std::vector<double>& sums, int64_t n, std::vector<std::string> names, const c10::Device& d) {
    sum = {at::tensor(sums, at::kDouble).to(d), std::move(names)};
    count = n;
  }
  Losses mean() const {
    Losses m = sum.values.defined() ? sum.read() : Losses{};
    for (auto& v : m.values) v /= static_cast<double>(std::max<int64_t>(1, count));
    return m;
  }
};

// Iterations/s of this run, leaving out its first iteration, which pays for warm-up.
struct Throughput {
  double seconds = 0;
  int64_t iterations = 0;
  bool warmed_up = false;

  void add(double iteration_seconds) {
    if (warmed_up) {
      seconds += iteration_seconds;
      ++iterations;
    }
    warmed_up = true;
  }
};

// The loop of one run, from a prepared model and position to the end of training or a stop:
// epochs of iterations, the record of losses, saves, samples and what the user reads.
class TrainingRun {
 public:
  TrainingRun(const TrainOptions& opt, const fs::path& dir, const TrainingData& data, TrainableModel& model,
              const TrainState& state, TrainingGroup& group, std::ostream& out);
  void run();

 private:
  Stop run_epoch();
  Stop run_iteration(int epoch, double lr, Loader& loader);
  void record(int epoch, double lr, const DeviceLosses& losses);
  void finish_epoch(int epoch, double seconds);
  void step_plateau(const Losses& epoch_mean);
  Stop stop_requested();
  void save(const std::string& file, const std::string& snapshot = "");
  void save_here(const std::string& file);
  void export_generator(GeneratorExport& g);
  void write_samples(int epoch);
  void report_problems();
  void report_end(Stop why);
  std::string written_files();
  double elapsed_s() const { return state_.elapsed_s + seconds_since(run_start_); }

  const TrainOptions& opt_;
  const fs::path dir_;
  const TrainingData& data_;
  TrainableModel& model_;
  TrainingGroup& group_;  // the other ranks of a distributed run; rank 0 alone writes files
  std::ostream& out_;
  TrainState state_;  // its elapsed_s stays that of the runs before this one
  const int64_t iters_per_epoch_;
  // Modes that keep the images' own size train at the size of the data, not at the crop.
  const bool native_size_;
  int64_t trained_size_ = 0;    // recorded in G_A.pt / G_B.pt as their natural processing size
  std::optional<LossLog> log_;  // rank 0's
  Progress progress_;
  SignalScope signals_;
  const Clock::time_point run_start_ = Clock::now();
  LossSum window_;  // since the last row of loss_log.csv
  LossSum epoch_losses_;
  Throughput throughput_;
  DataProblems reported_;
};

TrainingRun::TrainingRun(const TrainOptions& opt, const fs::path& dir, const TrainingData& data, TrainableModel& model,
                         const TrainState& state, TrainingGroup& group, std::ostream& out)
    : opt_(opt),
      dir_(dir),
      data_(data),
      model_(model),
      group_(group),
      out_(out),
      state_(state),
      iters_per_epoch_(data.batches_per_epoch()),
      native_size_(!crops(parse_preprocess_mode(opt.preprocess))),
      progress_(out, group.leader() && Progress::stream_is_terminal(STDOUT_FILENO) && &out == &std::cout,
                opt.print_freq) {
  if (group.leader())
    log_.emplace(dir.string(), model.loss_names(),
                 opt.model == "distill"   ? "Distillation"
                 : opt.model == "pix2pix" ? "pix2pix"
                                          : "CycleGAN",
                 opt.continue_train, state.total_iters);
  group.watch_stop([] { return g_signal.load() != 0; });
}

void TrainingRun::run() {
  if (opt_.max_iters > 0 && state_.total_iters >= opt_.max_iters) {
    out_ << "cg-trainer: the checkpoint already has " << state_.total_iters << " iterations (--max-iters "
         << opt_.max_iters << "); nothing to do\n";
    return;
  }
  trained_size_ = native_size_ ? data_.fixed_image(false, 0).size(2) : opt_.crop_size;
  Stop stop = Stop::kNo;
  while (stop == Stop::kNo && state_.epoch <= opt_.last_epoch()) stop = run_epoch();
  report_end(stop);
}

// Runs the current epoch from the current iteration; an epoch cut short by a stop ends with the
// latest checkpoint saved, a whole one with finish_epoch.
Stop TrainingRun::run_epoch() {
  const int epoch = state_.epoch;
  const double lr = opt_.lr * lr_factor(opt_, epoch, state_.plateau);
  model_.set_lr(lr);
  const auto epoch_start = Clock::now();
  progress_.start_epoch(epoch, opt_.last_epoch(), state_.epoch_iter, iters_per_epoch_, lr);
  epoch_losses_ = {};
  const auto names = model_.loss_names();
  if (state_.epoch_iter > 0 && state_.epoch_loss_count > 0 && state_.epoch_loss_sums.size() == names.size())
    epoch_losses_.restore(state_.epoch_loss_sums, state_.epoch_loss_count, names, model_.device);
  Loader loader(data_, static_cast<uint64_t>(opt_.seed), epoch, state_.epoch_iter, iters_per_epoch_, opt_.num_threads,
                /*pin=*/model_.device.is_cuda());
  Stop stop = Stop::kNo;
  while (stop == Stop::kNo && state_.epoch_iter < iters_per_epoch_) {
    stop = run_iteration(epoch, lr, loader);
    const bool mid_epoch = state_.epoch_iter < iters_per_epoch_;
    if (mid_epoch && (state_.total_iters % opt_.save_latest_freq == 0 || stop != Stop::kNo)) save(kLatestCheckpoint);
  }
  if (state_.epoch_iter == iters_per_epoch_) finish_epoch(epoch, seconds_since(epoch_start));
  return stop;
}

// One training step and its bookkeeping; says whether the run should stop after it.
Stop TrainingRun::run_iteration(int epoch, double lr, Loader& loader) {
  const auto start = Clock::now();
  const Batch batch = loader.next();
  const DeviceLosses losses = model_.step(batch.A, batch.B);
  if (native_size_) trained_size_ = batch.A.size(3);
  throughput_.add(seconds_since(start));
  ++state_.epoch_iter;
  ++state_.total_iters;
  record(epoch, lr, losses);
  // The end of the epoch writes its samples anyway.
  if (state_.epoch_iter < iters_per_epoch_ && state_.total_iters % opt_.display_freq == 0) write_samples(epoch);
  if (opt_.check_sync > 0 && state_.total_iters % opt_.check_sync == 0) group_.check_weights(model_);
  return stop_requested();
}

// The loss means, data warnings, progress line and loss_log.csv rows of one iteration.
void TrainingRun::record(int epoch, double lr, const DeviceLosses& losses) {
  window_.add(losses);
  epoch_losses_.add(losses);
  report_problems();
  progress_.update(state_.epoch_iter, [&losses] { return losses.read(); });
  if (state_.total_iters % opt_.print_freq == 0 || state_.epoch_iter == iters_per_epoch_) {
    const Losses mean = group_.mean(window_.mean());
    if (log_) log_->append({epoch, state_.epoch_iter, state_.total_iters, mean, lr, elapsed_s()});
    window_ = {};
  }
}

void TrainingRun::finish_epoch(int epoch, double seconds) {
  state_.epoch = epoch + 1;
  state_.epoch_iter = 0;
  const Losses mean = group_.mean(epoch_losses_.mean());
  epoch_losses_ = {};
  progress_.end_epoch(mean, seconds);
  if (lr_policy_from(opt_.lr_policy) == LrPolicy::kPlateau) step_plateau(mean);
  const bool snapshot = epoch % opt_.save_epoch_freq == 0;
  save(kLatestCheckpoint, snapshot ? snapshot_name(epoch) : "");
  if (snapshot && group_.leader()) progress_.message("saved snapshot " + (dir_ / snapshot_name(epoch)).string());
  write_samples(epoch);
  if (log_) log_->draw_curve((dir_ / "loss_curve.png").string());
}

// The official code steps ReduceLROnPlateau with BaseModel.metric, which nothing ever sets from 0,
// so its lr falls every 6 epochs whatever training does. Here the metric is the epoch's mean total
// generator loss (every loss but the discriminators' D*), the same on every rank.
void TrainingRun::step_plateau(const Losses& epoch_mean) {
  double metric = 0;
  for (size_t i = 0; i < epoch_mean.names.size(); ++i)
    if (epoch_mean.names[i].rfind('D', 0) != 0) metric += epoch_mean.values[i];
  const double before = state_.plateau.factor;
  plateau_step(state_.plateau, metric, opt_.lr);
  if (state_.plateau.factor != before) {
    std::ostringstream s;
    s << "lr-policy plateau: no 1% improvement of the mean generator loss (best " << state_.plateau.best << ") for "
      << kPlateauPatience + 1 << " epochs: learning rate " << opt_.lr * before << " -> "
      << opt_.lr * state_.plateau.factor;
    progress_.message(s.str());
  }
}

Stop TrainingRun::stop_requested() {
  // A signal may reach some ranks an iteration before the others: all stop together, at the
  // iteration the group agrees on, whatever this rank alone has seen since.
  if (group_.stop_after_step()) return Stop::kSignal;
  if (opt_.max_iters > 0 && state_.total_iters >= opt_.max_iters) return Stop::kMaxIters;
  return Stop::kNo;
}

// Every rank's part of the checkpoint `file` (and rank 0's `snapshot`, if named). A save that
// fails on one rank stops every rank here, each with that rank's own error, rather than leaving
// the others to wait out --dist-timeout in their next collective.
void TrainingRun::save(const std::string& file, const std::string& snapshot) {
  std::optional<Error> failure;
  try {
    save_here(file);
    if (!snapshot.empty() && group_.leader()) save_here(snapshot);
  } catch (const Error& e) {
    failure = e;
  }
  group_.all_succeeded(failure);
}

// This rank's part: rank 0's checkpoint `file` with both generators exported beside it, or
// another rank's own state.
void TrainingRun::save_here(const std::string& file) {
  TrainState s = state_;
  s.elapsed_s = elapsed_s();
  s.epoch_loss_sums = epoch_losses_.count > 0 ? epoch_losses_.sum.read().values : std::vector<double>{};
  s.epoch_loss_count = epoch_losses_.count;
  const std::string kept = "; the previous checkpoint is left as it was";
  try {
    if (!group_.leader()) {
      save_rank_state(rank_state_path((dir_ / file).string(), group_.world().rank), model_, s);
      return;
    }
    save_checkpoint((dir_ / file).string(), model_, s, opt_);
    for (auto& g : model_.exports()) export_generator(g);
  } catch (const Error& e) {
    throw Error(e.kind(), e.what() + kept);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kIo, e.what() + kept);
  }
}

void TrainingRun::export_generator(GeneratorExport& g) {
  g.metadata.crop_size = trained_size_;
  g.metadata.epochs_trained = state_.epoch - 1;
  g.metadata.source = "cg-trainer " + opt_.name;
  save_generator(g.net, g.metadata, (dir_ / g.file).string());
}

void TrainingRun::write_samples(int epoch) {
  if (!group_.leader()) return;
  save_samples(dir_.string(), epoch,
               model_.translate(data_.fixed_image(false, 0).unsqueeze(0), data_.fixed_image(true, 0).unsqueeze(0)));
}

// Warns of the data problems found since the last call, each once.
void TrainingRun::report_problems() {
  const DataProblems p = data_.problems();
  for (size_t i = reported_.skipped.size(); i < p.skipped.size(); ++i)
    progress_.message("warning: skipped " + p.skipped[i] +
                      " (unreadable or corrupt; the next image takes its place); " + std::to_string(i + 1) +
                      " unreadable or corrupt image(s) skipped so far");
  if (p.upscaled > 0 && reported_.upscaled == 0)
    progress_.message("warning: some images are smaller than the crop (" + std::to_string(opt_.crop_size) +
                      " pixels) and are enlarged to fit it");
  reported_ = p;
}

// Why the run ended, and its speed.
void TrainingRun::report_end(Stop why) {
  const std::string latest = (dir_ / kLatestCheckpoint).string();
  if (why == Stop::kSignal)
    progress_.message(std::string("interrupted by ") + (g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM") + ": saved " +
                      latest + " at iteration " + std::to_string(state_.total_iters) +
                      "; resume with --continue-train");
  else if (why == Stop::kMaxIters)
    progress_.message("reached --max-iters " + std::to_string(opt_.max_iters) + ": saved " + latest);
  else
    progress_.message("training done: " + std::to_string(state_.total_iters) + " iterations; " + written_files());
  if (throughput_.iterations > 0) {
    std::ostringstream s;
    s << "iterations/s (after the first of this run): " << throughput_.iterations / throughput_.seconds;
    progress_.message(s.str());
  }
  if (group_.distributed()) {
    const CommunicationStats c = group_.stats();
    std::ostringstream s;
    s << "communication: " << c.bytes_reduced / std::max<int64_t>(1, state_.total_iters) << " gradient bytes "
      << "all-reduced per iteration per rank, " << c.seconds << " s in collectives";
    progress_.message(s.str());
  }
}

std::string TrainingRun::written_files() {
  std::string files;
  for (const auto& g : model_.exports()) files += (files.empty() ? "" : " and ") + (dir_ / g.file).string();
  return "generator(s) in " + files;
}

}  // namespace

std::string snapshot_name(int epoch) { return std::to_string(epoch) + "_checkpoint.pt"; }

void merge_checkpoint_options(TrainOptions& opt, const std::map<std::string, bool>& given,
                              const std::map<std::string, std::string>& saved, int next_epoch,
                              const std::string& path) {
  // cycle_gan and pix2pix share the train command: without --model a resume takes the checkpoint's.
  const auto trains = [](const std::string& m) { return m == "cycle_gan" || m == "pix2pix"; };
  const auto model_given = given.find("model");
  if (const auto m = saved.find("model");
      m != saved.end() && m->second != opt.model &&
      !(trains(m->second) && trains(opt.model) && (model_given == given.end() || !model_given->second)))
    throw Error(ErrorKind::kUsage, "--continue-train: " + path + " is a checkpoint of a " + m->second +
                                       " run; resume it with cg-trainer " +
                                       (m->second == "distill" ? "distill" : "train"));
  const auto current = opt.to_map();
  std::string conflicts;
  // Everything but the per-run settings defaults to the checkpoint's value, so a resume needs no
  // more than --name and --continue-train.
  for (const auto& [key, value] : saved) {
    if (current.count(key) == 0 || is_per_run(key)) continue;
    const auto g = given.find(key);
    const bool on_command_line = g != given.end() && g->second;
    if (!on_command_line) {
      set_option(opt, key, value);
    } else if (is_fixed_by_checkpoint(key) && current.at(key) != value) {
      conflicts += "\n  --" + key + " " + current.at(key) + " (the checkpoint has " + value + ")";
    }
  }
  if (const auto g = given.find("epoch_count"); g != given.end() && g->second && opt.epoch_count != next_epoch)
    conflicts += "\n  --epoch_count " + std::to_string(opt.epoch_count) + " (the checkpoint resumes at epoch " +
                 std::to_string(next_epoch) + "; leave it out)";
  if (const auto it = saved.find("epoch_count"); it != saved.end()) set_option(opt, "epoch_count", it->second);
  if (!conflicts.empty())
    throw Error(ErrorKind::kUsage,
                "--continue-train: options contradict the checkpoint " + path + ":" + conflicts +
                    "\nLeave them out to use the checkpoint's values, or train a new experiment under another --name.");
}

void train(TrainOptions opt, const std::map<std::string, bool>& given, std::ostream& out) {
  apply_model_defaults(opt, given);
  TrainingGroup group(read_world());
  std::ostream silent(nullptr);  // the other ranks print nothing but errors
  std::ostream& shown = group.leader() ? out : silent;
  // Captured before the merge: the run stays in the folder its checkpoint was found in, even
  // where the checkpoint records another --checkpoints-dir.
  const fs::path dir = opt.experiment_dir();
  // --device and --dist-timeout are each run's own, never a checkpoint's: the group is joined
  // before the checkpoint is read, since the other ranks receive rank 0's through it.
  group.join(group.device_for(parse_device(opt.device)), opt);
  std::optional<CheckpointFile> checkpoint = resume_source(opt, group, dir, shown);
  if (checkpoint) resume_options(opt, given, *checkpoint);
  std::optional<LoadedModel> teacher = complete_options(opt, given);
  const SizeRule rule = image_size_rule(opt, teacher);
  if (group.distributed() && opt.norm == "batch")
    throw Error(ErrorKind::kUsage,
                "--norm batch does not work under torchrun: each rank would keep its own batch statistics (the "
                "official code needs synchronized batch norm, which cg-trainer does not build); use instance or none");
  const c10::Device device = group.device_for(prepare_process(opt));
  group.take_seed(opt);
  DataOptions data_opt = data_options(opt, rule);
  data_opt.rank = group.world().rank;
  data_opt.ranks = group.world().world_size;
  std::unique_ptr<const TrainingData> data_owner;
  if (opt.dataset_mode == "aligned")
    data_owner = std::make_unique<const AlignedDataset>(data_opt);
  else
    data_owner = std::make_unique<const UnalignedDataset>(data_opt);
  const TrainingData& data = *data_owner;
  prepare_folder(dir, opt, group.leader());
  const uint64_t seed = static_cast<uint64_t>(opt.seed);
  torch::manual_seed(seed);
  if (device.is_cuda()) torch::cuda::manual_seed_all(seed);
  const auto model = make_model(opt, device, seed, group.world().rank, std::move(teacher));
  const TrainState state = starting_state(opt, dir, checkpoint, *model, data.batches_per_epoch(), group.world(), shown);
  checkpoint.reset();  // its bytes: loaded, and no longer needed
  group.agree(run_facts(opt, device, data, state));
  group.attach(*model);
  print_banner(shown, opt, dir, data, device, *model, state);
  TrainingRun(opt, dir, data, *model, state, group, shown).run();
}

}  // namespace cg
