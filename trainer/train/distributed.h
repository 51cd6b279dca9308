// A training run as one rank of several, launched by torchrun: the ranks join one c10d process
// group, agree on the seed and the options, start from rank 0's weights, average every gradient,
// and report the mean of their losses. Without torchrun's variables a run trains alone and none
// of this does anything.
#pragma once

#include "common/error.h"
#include "trainer/dist/gradient-averager.h"
#include "trainer/dist/group.h"
#include "trainer/train/options.h"
#include "trainer/train/trainable.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cg {

// Every option but the machine-local ones (is_per_machine), as --kebab-name = value: those that
// decide what the ranks compute and which collectives they run, --max-iters and --check-sync too.
Facts option_facts(const TrainOptions& opt);

class TrainingGroup {
 public:
  explicit TrainingGroup(const World& world) : world_(world) {}

  const World& world() const { return world_; }
  bool distributed() const { return world_.distributed(); }
  bool leader() const { return world_.leader(); }

  // This rank's device: CUDA ranks take cuda:LOCAL_RANK. Throws Error(kUsage) when the machine
  // has fewer GPUs than ranks on it.
  c10::Device device_for(const c10::Device& asked) const;

  // Joins the group (when distributed) with the device device_for gave, before anything is read
  // from a checkpoint: a resume receives rank 0's through the group.
  void join(const c10::Device& device, const TrainOptions& opt);

  // Every rank takes rank 0's seed.
  void take_seed(TrainOptions& opt);

  // Every rank's `value`, in rank order; {value} alone.
  std::vector<int64_t> gather(int64_t value);
  std::vector<std::string> gather(const std::string& text);

  // Every rank's `bytes` become rank 0's; `what` names them in a failure. Alone, nothing happens.
  void broadcast(std::string& bytes, const std::string& what);

  // Before the first step of every start (torchrun's restarts included): every rank must hold the
  // same `facts` (option_facts, the data's sizes, the starting position...), or all ranks stop at
  // once with one message naming the facts, values and ranks that differ, rather than train
  // different models or wait on different collectives.
  void agree(const Facts& facts);

  // Rank 0's weights on every rank, and the gradients averaged over the ranks from now on.
  void attach(TrainableModel& model);

  // The mean over the ranks; `losses` itself when alone.
  Losses mean(const Losses& losses);

  // True on every rank when any rank asks to stop (a signal reached some ranks only).
  bool any(bool flag);

  // Whether this rank wants to stop (a signal), asked at each gradient averaging: the answers
  // travel in the averaging's first bucket, with no collective of their own.
  void watch_stop(std::function<bool()> wants_stop);
  // After a step: true on every rank when any rank wanted to stop at one of the step's gradient
  // averagings (a step that averaged none asks with a collective of its own). A wish that comes
  // after the step's last averaging is seen by the next step, on every rank alike. Alone,
  // `wants_stop` now.
  bool stop_after_step();

  // Returns on every rank when no rank has a `failure`; otherwise every rank throws one Error
  // that gives each failing rank's own message. Alone, throws the failure itself.
  void all_succeeded(const std::optional<Error>& failure);

  // Stops with an Error naming the ranks whose weights differ from rank 0's.
  void check_weights(TrainableModel& model);

  CommunicationStats stats() const;

 private:
  GradientAverager& averager_for(const std::vector<at::Tensor>& params);

  World world_;
  bool overlap_ = false;  // of gradient buckets with backward (GradientAverager)
  std::unique_ptr<Group> group_;
  std::map<const void*, std::unique_ptr<GradientAverager>> averagers_;  // by first parameter
  std::function<bool()> wants_stop_;
  int averagings_ = 0;      // in the current step
  bool stop_seen_ = false;  // by one of them
};

}  // namespace cg
