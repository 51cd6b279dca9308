// Adam whose update is ATen's fused kernel (what PyTorch's Adam(fused=True) runs): one kernel
// launch per step on CUDA instead of about a dozen per parameter. The state lives in the same
// torch::optim::AdamParamState objects as torch::optim::Adam's, so save, load and checkpoints
// are shared with it, step counts included.
#pragma once

#include <torch/optim/adam.h>

#include <vector>

namespace cg {

class FusedAdam : public torch::optim::Adam {
 public:
  FusedAdam(std::vector<torch::Tensor> params, torch::optim::AdamOptions defaults)
      : torch::optim::Adam(std::move(params), std::move(defaults)) {}

  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  void step_group(torch::optim::OptimizerParamGroup& group);
  torch::optim::AdamParamState& state_of(const torch::Tensor& p);
};

}  // namespace cg
