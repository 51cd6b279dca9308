#include "trainer/dist/gradient-averager.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

namespace cg {

namespace {

enum class Phase {
  kFirst,     // the hooks come after this step's backward: average at the end
  kLearning,  // the hooks record the order in which the gradients become ready
  kArmed,     // the hooks send each bucket as soon as it is ready
  kAtTheEnd,  // overlap proved wrong for these parameters (or is off): average at the end
};

}  // namespace

struct GradientAverager::State {
  State(Group& g, std::vector<at::Tensor> p, std::function<double()> f, const BucketOptions& o)
      : group(g), params(std::move(p)), flag(std::move(f)), options(o) {}

  Group& group;
  const std::vector<at::Tensor> params;
  const std::function<double()> flag;
  const BucketOptions options;
  Phase phase = Phase::kFirst;

  std::vector<std::vector<size_t>> buckets;  // parameter indices, in the order they are sent
  std::vector<size_t> bucket_of;             // parameter -> bucket
  std::vector<size_t> waiting;               // per bucket: parameters not yet ready this step
  std::vector<char> ready;                   // per parameter, this step
  std::vector<int64_t> ready_order;          // kLearning: the first time each became ready
  size_t next = 0;                           // the first bucket not sent this step
  size_t sent_early = 0, last_sent_early = 0;
  bool grew_after_sending = false;
  std::vector<std::shared_ptr<PendingSum>> sums;

  // The accumulators are kept alive so that the hooks stay on the ones later graphs use.
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;
  std::vector<uintptr_t> hook_keys;

  void make_buckets(const std::vector<int64_t>& order);
  void start_step();
  void on_ready(size_t i);
  void send(size_t b);
  double wait_and_average();
  double finish();
};

namespace {

// Runs after AccumulateGrad has added this backward's gradient into the parameter's .grad.
class ReadyHook : public torch::autograd::FunctionPostHook {
 public:
  ReadyHook(std::weak_ptr<GradientAverager::State> state, size_t index) : state_(std::move(state)), index_(index) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list& /*inputs*/) override {
    if (auto s = state_.lock()) s->on_ready(index_);
    return outputs;
  }

 private:
  std::weak_ptr<GradientAverager::State> state_;
  size_t index_;
};

}  // namespace

// Consecutive parameters of `order` of one dtype, up to the byte caps.
void GradientAverager::State::make_buckets(const std::vector<int64_t>& order) {
  buckets.clear();
  bucket_of.assign(params.size(), 0);
  int64_t bytes = 0;
  for (const int64_t i : order) {
    const auto& p = params[static_cast<size_t>(i)];
    const int64_t n = static_cast<int64_t>(p.nbytes());
    const int64_t cap = buckets.size() == 1 ? options.first_bytes : options.bytes;
    if (buckets.empty() || bytes + n > cap || params[buckets.back().front()].scalar_type() != p.scalar_type()) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().push_back(static_cast<size_t>(i));
    bucket_of[static_cast<size_t>(i)] = buckets.size() - 1;
    bytes += n;
  }
}

void GradientAverager::State::start_step() {
  waiting.clear();
  for (const auto& b : buckets) waiting.push_back(b.size());
  ready.assign(params.size(), 0);
  next = 0;
  sent_early = 0;
  grew_after_sending = false;
  sums.clear();
}

void GradientAverager::State::on_ready(size_t i) {
  if (phase == Phase::kLearning && !ready[i]) ready_order.push_back(static_cast<int64_t>(i));
  if (phase != Phase::kArmed) {
    ready[i] = 1;
    return;
  }
  const size_t b = bucket_of[i];
  if (b < next) grew_after_sending = true;  // sent with a partial gradient: finish() sends it again
  if (ready[i] || b < next) return;
  ready[i] = 1;
  --waiting[b];
  while (next < buckets.size() && waiting[next] == 0) {
    send(next++);
    ++sent_early;
  }
}

// The bucket's gradients as one flat tensor (a missing one as zeros), the flag after the first's.
void GradientAverager::State::send(size_t b) {
  std::vector<at::Tensor> flat;
  int64_t bytes = 0;
  for (const size_t i : buckets[b]) {
    at::Tensor p = params[i];  // mutable_grad needs a non-const handle; it shares the parameter
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    flat.push_back(p.grad().reshape({-1}));
    bytes += static_cast<int64_t>(p.grad().nbytes());
  }
  // Small whole numbers (a flag per rank) stay exact in any floating type a gradient has.
  if (b == 0) flat.push_back(at::full({1}, flag ? flag() : 0.0, flat[0].options()));
  sums.push_back(group.start_sum(at::cat(flat), "averaging gradients"));
  group.count_reduced(bytes);
}

// Waits for every bucket in order and writes each mean back into its gradients.
double GradientAverager::State::wait_and_average() {
  double summed = 0;
  for (size_t b = 0; b < buckets.size(); ++b) {
    at::Tensor sum = group.finish_sum(*sums[b]);
    if (b == 0) summed = sum[sum.numel() - 1].item<double>();
    sum.div_(group.size());
    int64_t offset = 0;
    for (const size_t i : buckets[b]) {
      at::Tensor g = params[i].grad();
      g.copy_(sum.narrow(0, offset, g.numel()).view(g.sizes()));
      offset += g.numel();
    }
  }
  return summed;
}

double GradientAverager::State::finish() {
  if (buckets.empty()) {  // nothing to average: the flag travels alone
    auto sum = group.start_sum(at::full({1}, flag ? flag() : 0.0, at::kDouble), "averaging gradients");
    return group.finish_sum(*sum).item<double>();
  }
  while (next < buckets.size()) send(next++);
  last_sent_early = sent_early;
  double summed = 0;
  if (grew_after_sending) {
    // The buckets sent early hold partial gradients: keep their flag, then send every bucket again,
    // and from now on only at the end. Every rank runs the same backward passes, so all do this.
    for (size_t b = 0; b < sums.size(); ++b) {
      const at::Tensor sum = group.finish_sum(*sums[b]);
      if (b == 0) summed = sum[sum.numel() - 1].item<double>();
    }
    sums.clear();
    for (size_t b = 0; b < buckets.size(); ++b) send(b);
    wait_and_average();
    phase = Phase::kAtTheEnd;
  } else {
    summed = wait_and_average();
  }
  const Phase was = phase;
  if (was == Phase::kFirst) phase = options.overlap ? Phase::kLearning : Phase::kAtTheEnd;
  if (was == Phase::kLearning) {
    // Rank 0's order for every rank, then any parameter that never became ready.
    std::vector<int64_t> order = ready_order;
    for (size_t i = params.size(); i-- > 0;)
      if (!ready[i]) order.push_back(static_cast<int64_t>(i));
    at::Tensor t = at::tensor(order, at::kLong);
    group.broadcast({t});
    make_buckets(std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()));
    phase = Phase::kArmed;
  }
  start_step();
  return summed;
}

GradientAverager::GradientAverager(Group& group, std::vector<at::Tensor> params, std::function<double()> flag,
                                   const BucketOptions& options)
    : s_(std::make_shared<State>(group, std::move(params), std::move(flag), options)) {
  auto& s = *s_;
  // Until the order is learnt, the last parameters first: backward reaches them first.
  std::vector<int64_t> order;
  for (size_t i = s.params.size(); i-- > 0;) order.push_back(static_cast<int64_t>(i));
  s.make_buckets(order);
  s.start_step();
  if (!options.overlap) return;
  for (size_t i = 0; i < s.params.size(); ++i) {
    auto acc = s.params[i].requires_grad() ? torch::autograd::impl::grad_accumulator(s.params[i]) : nullptr;
    if (!acc) continue;  // frozen: it never becomes ready, and is sent with the last bucket
    s.hook_keys.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(s_, i)));
    s.accumulators.push_back(std::move(acc));
  }
}

GradientAverager::~GradientAverager() {
  for (size_t i = 0; i < s_->accumulators.size(); ++i) s_->accumulators[i]->del_post_hook(s_->hook_keys[i]);
}

double GradientAverager::finish() { return s_->finish(); }
size_t GradientAverager::buckets() const { return s_->buckets.size(); }
size_t GradientAverager::sent_early() const { return s_->last_sent_early; }

}  // namespace cg
