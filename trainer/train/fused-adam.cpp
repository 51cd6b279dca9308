#include "trainer/train/fused-adam.h"

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include <algorithm>

namespace cg {

torch::Tensor FusedAdam::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) step_group(group);
  return loss;
}

// Created as torch::optim::Adam creates it, so either optimizer can continue the other's state.
torch::optim::AdamParamState& FusedAdam::state_of(const torch::Tensor& p) {
  auto& slot = state_[p.unsafeGetTensorImpl()];
  if (!slot) {
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(0);
    s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    if (static_cast<torch::optim::AdamOptions&>(param_groups_.front().options()).amsgrad())
      s->max_exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    slot = std::move(s);
  }
  return static_cast<torch::optim::AdamParamState&>(*slot);
}

void FusedAdam::step_group(torch::optim::OptimizerParamGroup& group) {
  const auto& o = static_cast<const torch::optim::AdamOptions&>(group.options());
  // The kernel reads one step count per tensor; parameters that missed steps (no gradient) have
  // their own count, so tensors are batched by count: one batch in practice.
  struct Lists {
    int64_t step;
    at::Device device;
    std::vector<at::Tensor> params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs;
  };
  std::vector<Lists> batches;
  for (auto& p : group.params()) {
    if (!p.grad().defined()) continue;
    auto& s = state_of(p);
    s.step(s.step() + 1);
    auto it = std::find_if(batches.begin(), batches.end(),
                           [&](const Lists& b) { return b.step == s.step() && b.device == p.device(); });
    if (it == batches.end()) it = batches.insert(batches.end(), Lists{s.step(), p.device(), {}, {}, {}, {}, {}});
    auto& l = *it;
    l.params.push_back(p);
    l.grads.push_back(p.grad());
    l.exp_avgs.push_back(s.exp_avg());
    l.exp_avg_sqs.push_back(s.exp_avg_sq());
    if (o.amsgrad()) l.max_exp_avg_sqs.push_back(s.max_exp_avg_sq());
  }
  for (auto& l : batches) {
    // Filled on the device by a kernel argument, not copied from the host.
    const auto step = at::full({}, static_cast<double>(l.step), at::TensorOptions().device(l.device));
    const std::vector<at::Tensor> steps(l.params.size(), step);
    at::_fused_adam_(l.params, l.grads, l.exp_avgs, l.exp_avg_sqs, l.max_exp_avg_sqs, steps, o.lr(),
                     std::get<0>(o.betas()), std::get<1>(o.betas()), o.weight_decay(), o.eps(), o.amsgrad(),
                     /*maximize=*/false);
  }
}

}  // namespace cg
