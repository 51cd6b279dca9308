#include "train.h"

#include "atomic-file.h"

#include "checkpoint.h"
#include "cycle-gan.h"
#include "dataset.h"
#include "device.h"
#include "loader.h"
#include "model-file.h"
#include "progress.h"
#include "report.h"
#include "schedule.h"

#include <opencv2/core/utility.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <malloc.h>
#include <iostream>
#include <random>
#include <sstream>
#include <unistd.h>

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
  struct sigaction old_int {}, old_term {};
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

void write_text(const fs::path& path, const std::string& text) {
  try {
    write_file_atomically(path.string(), text);
  } catch (const ModelFileError& e) {
    throw TrainError(e.what());
  }
}

}  // namespace

std::string snapshot_name(int epoch) { return std::to_string(epoch) + "_checkpoint.pt"; }

void merge_checkpoint_options(TrainOptions& opt, const std::map<std::string, bool>& given,
                              const std::map<std::string, std::string>& saved, int next_epoch, const std::string& path) {
  const auto current = opt.to_map();
  std::string conflicts;
  // Settings of the machine or of this run only; everything else defaults to the checkpoint's
  // value, so a resume needs no more than --name and --continue-train.
  static const char* per_run[] = {"continue_train", "max_iters", "device", "threads", "num_threads", "epoch_count"};
  for (const auto& [key, value] : saved) {
    const std::string& name = key;  // lambdas cannot capture structured bindings before C++20 (clang)
    if (current.count(key) == 0 || std::any_of(std::begin(per_run), std::end(per_run), [&](const char* k) { return name == k; }))
      continue;
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
    throw TrainError("--continue-train: options contradict the checkpoint " + path + ":" + conflicts +
                     "\nLeave them out to use the checkpoint's values, or train a new experiment under another --name.");
}

int train(TrainOptions opt, const std::map<std::string, bool>& given, std::ostream& out) {
  const fs::path dir = opt.experiment_dir();
  const fs::path latest = dir / kLatestCheckpoint;
  CheckpointInfo resume;
  if (opt.continue_train) {
    std::error_code ec;
    if (!fs::exists(latest, ec))
      throw TrainError("--continue-train: no checkpoint " + latest.string() + " (check --checkpoints-dir and --name)");
    try {
      resume = read_checkpoint_info(latest.string());
    } catch (const CheckpointError& e) {
      throw TrainError(e.what());
    }
    merge_checkpoint_options(opt, given, resume.options, resume.state.epoch, latest.string());
  }
  opt.validate();
  // Recorded absolute, so a resume from another working directory finds the data.
  {
    std::error_code ec;
    const auto abs = fs::absolute(opt.dataroot, ec);
    if (!ec) opt.dataroot = abs.lexically_normal().string();
  }
  if (opt.seed < 0) opt.seed = static_cast<int64_t>(std::random_device{}() >> 1);  // recorded, so a resume stays exact
  const uint64_t seed = static_cast<uint64_t>(opt.seed);

  const c10::Device device = resolve_device(opt.device);
  if (opt.threads > 0) torch::set_num_threads(opt.threads);
  // Every iteration frees and reallocates the same large activations. Above glibc's mmap
  // threshold each would be a fresh mapping whose pages the kernel zeroes on first touch (~9% of
  // a 256x256 CPU iteration in a profile); keeping them on the heap reuses the memory.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  // The loader threads decode in parallel already; OpenCV's own thread pool inside them would
  // only compete with LibTorch's for the cores.
  cv::setNumThreads(0);

  DataOptions d;
  d.dataroot = opt.dataroot;
  d.swap_domains = opt.direction == "BtoA";
  d.preprocess = {opt.preprocess, opt.load_size, opt.crop_size, !opt.no_flip};
  d.max_dataset_size = opt.max_dataset_size;
  d.serial_batches = opt.serial_batches;
  d.batch_size = opt.batch_size;
  const UnalignedDataset data(d);
  const int64_t iters_per_epoch = data.batches_per_epoch();

  try {
    fs::create_directories(dir);
  } catch (const fs::filesystem_error& e) {
    throw TrainError(dir.string() + ": cannot create the checkpoint folder (" + e.code().message() + ")");
  }
  // Temporary files of saves that a killed run never finished.
  {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const std::string f = it->path().filename().string();
      if (f.size() > 1 && f[0] == '.' && f.find(".tmp") != std::string::npos) {
        std::error_code e2;
        fs::remove(it->path(), e2);
      }
    }
  }
  write_text(dir / "train_opt.txt", opt.to_text());

  torch::manual_seed(seed);
  if (device.is_cuda()) torch::cuda::manual_seed_all(seed);
  CycleGan model(opt, device, seed);
  TrainState state;
  state.epoch = opt.epoch_count;
  state.seed = seed;
  if (opt.continue_train) {
    try {
      resume = load_checkpoint(latest.string(), model);
    } catch (const CheckpointError& e) {
      throw TrainError(e.what());
    }
    state = resume.state;
    if (state.epoch_iter >= iters_per_epoch) {
      // The dataset shrank since the checkpoint: its epoch is over.
      out << "cg-trainer: warning: the dataset now has " << iters_per_epoch << " iterations per epoch, fewer than the "
          << state.epoch_iter << " the checkpoint had done in epoch " << state.epoch << "; starting epoch " << state.epoch + 1
          << "\n";
      ++state.epoch;
      state.epoch_iter = 0;
    }
  }

  out << "cg-trainer: " << data.files_A().size() << " images in A, " << data.files_B().size() << " in B, "
      << iters_per_epoch << " iterations per epoch; " << (device.is_cuda() ? device.str() : "cpu") << ", "
      << torch::get_num_threads() << " compute threads; seed " << seed << "\n"
      << "cg-trainer: generators " << count_parameters(*model.G_A) << " parameters each, discriminators "
      << count_parameters(*model.D_A) << "; checkpoints in " << dir.string() << "\n";
  if (opt.continue_train)
    out << "cg-trainer: resuming " << latest.string() << " at epoch " << state.epoch << ", iteration " << state.epoch_iter
        << " (" << state.total_iters << " done)\n";
  out << std::flush;

  LossLog log(dir.string(), opt.continue_train, state.total_iters);
  Progress progress(out, Progress::stream_is_terminal(STDOUT_FILENO) && &out == &std::cout, opt.print_freq);
  SignalScope signals;
  const auto run_start = Clock::now();
  if (opt.max_iters > 0 && state.total_iters >= opt.max_iters) {
    out << "cg-trainer: the checkpoint already has " << state.total_iters << " iterations (--max-iters " << opt.max_iters
        << "); nothing to do\n";
    return 0;
  }

  // The image size training runs at, recorded in G_A.pt / G_B.pt as their natural processing
  // size: the crop, except where the mode keeps the images' own size.
  const bool native = opt.preprocess == "none" || opt.preprocess == "scale_width";
  int64_t trained_size = native ? data.fixed_image(false, 0).size(2) : opt.crop_size;
  auto save = [&](const std::string& file) {
    TrainState s = state;
    s.elapsed_s = state.elapsed_s + seconds_since(run_start);
    try {
      save_checkpoint((dir / file).string(), model, s, opt);
      for (const auto& [net, name, direction] :
           {std::tuple<ResnetGenerator*, const char*, bool>{&model.G_A, "G_A.pt", true}, {&model.G_B, "G_B.pt", false}}) {
        auto meta = ModelMetadata::for_generator((*net)->options());
        meta.direction = (direction == (opt.direction == "AtoB")) ? "AtoB" : "BtoA";
        meta.crop_size = trained_size;
        meta.epochs_trained = state.epoch - 1;
        meta.source = "cg-trainer " + opt.name;
        save_generator(*net, meta, (dir / name).string());
      }
    } catch (const std::exception& e) {
      throw TrainError(std::string(e.what()) + "; the previous checkpoint is left as it was");
    }
  };
  auto samples = [&](int epoch) {
    auto v = model.translate(data.fixed_image(false, 0).unsqueeze(0), data.fixed_image(true, 0).unsqueeze(0));
    save_samples(dir.string(), epoch, v);
  };

  DataProblems reported;
  auto report_problems = [&] {
    const DataProblems p = data.problems();
    for (size_t i = reported.skipped.size(); i < p.skipped.size(); ++i)
      progress.message("warning: skipped " + p.skipped[i] + " (unreadable or corrupt; the next image takes its place); " +
                       std::to_string(i + 1) + " unreadable or corrupt image(s) skipped so far");
    if (p.upscaled > 0 && reported.upscaled == 0)
      progress.message("warning: some images are smaller than the crop (" + std::to_string(opt.crop_size) +
                       " pixels) and are enlarged to fit it");
    reported = p;
  };
  // Iterations/s of this run, after the first iteration (which pays for warm-up).
  double steady_s = 0;
  int64_t steady_n = 0, run_iters = 0;
  Losses window, epoch_sum;
  int64_t window_n = 0, epoch_n = 0;

  for (int epoch = state.epoch; epoch <= opt.last_epoch(); ++epoch) {
    const double lr = opt.lr * lr_factor(epoch, opt.n_epochs, opt.n_epochs_decay);
    model.set_lr(lr);
    const auto epoch_start = Clock::now();
    progress.start_epoch(epoch, opt.last_epoch(), state.epoch_iter, iters_per_epoch, lr);
    epoch_sum = {};
    epoch_n = 0;
    Loader loader(data, seed, epoch, state.epoch_iter, iters_per_epoch, opt.num_threads);
    while (state.epoch_iter < iters_per_epoch) {
      const auto t0 = Clock::now();
      Batch batch = loader.next();
      const Losses l = model.step(batch.A, batch.B);
      if (native) trained_size = batch.A.size(3);
      if (run_iters++ > 0) {
        steady_s += seconds_since(t0);
        ++steady_n;
      }
      ++state.epoch_iter;
      ++state.total_iters;
      for (size_t i = 0; i < l.values.size(); ++i) {
        window.values[i] += l.values[i];
        epoch_sum.values[i] += l.values[i];
      }
      ++window_n;
      ++epoch_n;
      report_problems();
      progress.update(state.epoch_iter, l);
      const bool epoch_done = state.epoch_iter == iters_per_epoch;
      if (state.total_iters % opt.print_freq == 0 || epoch_done) {
        LossRow row{epoch, state.epoch_iter, state.total_iters, window, lr, state.elapsed_s + seconds_since(run_start)};
        for (auto& v : row.losses.values) v /= static_cast<double>(window_n);
        log.append(row);
        window = {};
        window_n = 0;
      }
      if (!epoch_done && state.total_iters % opt.display_freq == 0) samples(epoch);
      const bool stop = g_signal.load() != 0 || (opt.max_iters > 0 && state.total_iters >= opt.max_iters);
      if (epoch_done) {
        state.epoch = epoch + 1;
        state.epoch_iter = 0;
        for (auto& v : epoch_sum.values) v /= static_cast<double>(std::max<int64_t>(1, epoch_n));
        progress.end_epoch(epoch_sum, seconds_since(epoch_start));
        save(kLatestCheckpoint);
        if (epoch % opt.save_epoch_freq == 0) {
          save(snapshot_name(epoch));
          progress.message("saved snapshot " + (dir / snapshot_name(epoch)).string());
        }
        samples(epoch);
        log.draw_curve((dir / "loss_curve.png").string());
      } else if (state.total_iters % opt.save_latest_freq == 0 || stop) {
        save(kLatestCheckpoint);
      }
      if (stop) {
        if (g_signal.load() != 0)
          progress.message(std::string("interrupted by ") + (g_signal.load() == SIGINT ? "SIGINT" : "SIGTERM") +
                           ": saved " + latest.string() + " at iteration " + std::to_string(state.total_iters) +
                           "; resume with --continue-train");
        else
          progress.message("reached --max-iters " + std::to_string(opt.max_iters) + ": saved " + latest.string());
        if (steady_n > 0) {
          std::ostringstream s;
          s << "iterations/s (after the first of this run): " << steady_n / steady_s;
          progress.message(s.str());
        }
        return 0;
      }
      if (epoch_done) break;
    }
  }
  progress.message("training done: " + std::to_string(state.total_iters) + " iterations; generators in " +
                   (dir / "G_A.pt").string() + " and " + (dir / "G_B.pt").string());
  if (steady_n > 0) {
    std::ostringstream s;
    s << "iterations/s (after the first of this run): " << steady_n / steady_s;
    progress.message(s.str());
  }
  return 0;
}

}  // namespace cg
