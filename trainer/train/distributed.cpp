#include "trainer/train/distributed.h"

#include "common/error.h"

#include <torch/cuda.h>

#include <algorithm>
#include <functional>

namespace cg {

namespace {

std::vector<at::Tensor> state_of(TrainableModel& m) {
  std::vector<at::Tensor> all;
  for (const auto& [name, net] : m.networks()) {
    for (const auto& p : net->parameters()) all.push_back(p);
    for (const auto& b : net->buffers()) all.push_back(b);
  }
  return all;
}

}  // namespace

Facts option_facts(const TrainOptions& opt) {
  Facts facts;
  for (const auto& [key, value] : opt.to_map()) {
    if (is_per_machine(key)) continue;
    std::string flag = "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    facts.emplace_back(flag, value);
  }
  return facts;
}

c10::Device TrainingGroup::device_for(const c10::Device& asked) const {
  if (!distributed() || !asked.is_cuda()) return asked;
  const int gpus = static_cast<int>(torch::cuda::device_count());
  if (gpus < world_.local_world_size)
    throw Error(ErrorKind::kUsage, "LOCAL_WORLD_SIZE=" + std::to_string(world_.local_world_size) +
                                       " ranks on this machine but only " + std::to_string(gpus) +
                                       " CUDA device(s): one rank per GPU (--nproc-per-node at most " +
                                       std::to_string(gpus) + "), or --device cpu");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(world_.local_rank));
}

void TrainingGroup::join(const c10::Device& device, const TrainOptions& opt) {
  if (!distributed()) return;
  GroupOptions o;
  o.timeout = std::chrono::seconds(opt.dist_timeout);
  group_ = std::make_unique<Group>(world_, device, o);
  overlap_ = device.is_cpu() && opt.dist_overlap != 0;
}

void TrainingGroup::take_seed(TrainOptions& opt) {
  if (group_) opt.seed = group_->gather(opt.seed)[0];
}

std::vector<int64_t> TrainingGroup::gather(int64_t value) {
  return group_ ? group_->gather(value) : std::vector<int64_t>{value};
}

std::vector<std::string> TrainingGroup::gather(const std::string& text) {
  return group_ ? group_->gather(text) : std::vector<std::string>{text};
}

void TrainingGroup::broadcast(std::string& bytes, const std::string& what) {
  if (group_) group_->broadcast(bytes, what);
}

void TrainingGroup::agree(const Facts& facts) {
  if (!group_) return;
  require_same_facts(*group_, facts,
                     "rank " + std::to_string(world_.rank) +
                         ": the ranks differ in what they were given, so they would train different models or wait "
                         "on different collectives; every rank stops (launch all with the same options and data):");
}

void TrainingGroup::attach(TrainableModel& model) {
  if (!group_) return;
  torch::NoGradGuard no_grad;
  group_->broadcast(state_of(model));
  model.sync_gradients = [this](const std::vector<at::Tensor>& params) {
    if (averager_for(params).finish() > 0) stop_seen_ = true;
    ++averagings_;
  };
}

// One averager per optimizer, made at its first step: from then on its hooks follow its gradients.
GradientAverager& TrainingGroup::averager_for(const std::vector<at::Tensor>& params) {
  const void* key = params.empty() ? nullptr : params.front().unsafeGetTensorImpl();
  auto& a = averagers_[key];
  if (!a) {
    BucketOptions o;
    o.overlap = overlap_;
    a = std::make_unique<GradientAverager>(
        *group_, params, [this] { return wants_stop_ && wants_stop_() ? 1.0 : 0.0; }, o);
  }
  return *a;
}

Losses TrainingGroup::mean(const Losses& losses) {
  if (!group_) return losses;
  return {losses.names, group_->mean(losses.values)};
}

bool TrainingGroup::any(bool flag) {
  if (!group_) return flag;
  return group_->mean({flag ? 1.0 : 0.0})[0] > 0;
}

void TrainingGroup::watch_stop(std::function<bool()> wants_stop) { wants_stop_ = std::move(wants_stop); }

bool TrainingGroup::stop_after_step() {
  const bool mine = wants_stop_ && wants_stop_();
  if (!group_) return mine;
  // Every rank runs the same steps, so all take the same branch.
  const bool stop = averagings_ > 0 ? stop_seen_ : any(mine);
  averagings_ = 0;
  stop_seen_ = false;
  return stop;
}

void TrainingGroup::all_succeeded(const std::optional<Error>& failure) {
  if (!group_) {
    if (failure) throw *failure;
    return;
  }
  if (!any(failure.has_value())) return;
  const auto errors = group_->gather(failure ? std::string(failure->what()) : std::string());
  std::string text;
  for (size_t r = 0; r < errors.size(); ++r)
    if (!errors[r].empty()) text += (text.empty() ? "" : "\n") + ("rank " + std::to_string(r) + ": " + errors[r]);
  throw Error(failure ? failure->kind() : ErrorKind::kIo,
              text + (failure ? "" : "\n(so rank " + std::to_string(world_.rank) + " stops too)"));
}

void TrainingGroup::check_weights(TrainableModel& model) {
  if (!group_) return;
  const auto sum = static_cast<int64_t>(weights_checksum(state_of(model)) >> 1);
  require_same_on_every_rank(*group_, sum, "--check-sync: the weights");
}

CommunicationStats TrainingGroup::stats() const { return group_ ? group_->stats() : CommunicationStats{}; }

}  // namespace cg
