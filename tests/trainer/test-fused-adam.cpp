// The fused Adam optimizer against LibTorch's Adam: the same update to rounding, the same state.
#include "trainer/train/fused-adam.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <sstream>

namespace cg {
namespace {

using torch::optim::AdamOptions;
using torch::optim::AdamParamState;

// The trainer's settings.
AdamOptions trainer_adam() { return AdamOptions(2e-4).betas({0.5, 0.999}); }

std::vector<at::Tensor> copies(const std::vector<at::Tensor>& init) {
  std::vector<at::Tensor> out;
  for (const auto& t : init) out.push_back(t.detach().clone().requires_grad_());
  return out;
}

std::vector<at::Tensor> initial_weights() {
  torch::manual_seed(3);
  return {torch::randn({16, 8, 3, 3}) * 0.02, torch::randn({16}) * 0.02, torch::randn({7})};
}

// Gives `params` the gradients of step `step` (parameter 2 gets none on step 1, so its count
// falls behind the others').
void set_grads(std::vector<at::Tensor>& params, int step) {
  torch::manual_seed(100 + step);
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = torch::randn(params[i].sizes()) * (i + 1);
    params[i].mutable_grad() = (i == 2 && step == 1) ? at::Tensor() : g;
  }
}

void run_steps(torch::optim::Optimizer& opt, std::vector<at::Tensor>& params, int from, int to) {
  for (int s = from; s < to; ++s) {
    set_grads(params, s);
    opt.step();
  }
}

double max_relative_diff(const at::Tensor& a, const at::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item<double>();
}

TEST(FusedAdam, MatchesAdamToRounding) {
  const auto init = initial_weights();
  auto plain_params = copies(init), fused_params = copies(init);
  torch::optim::Adam plain(plain_params, trainer_adam());
  FusedAdam fused(fused_params, trainer_adam());
  run_steps(plain, plain_params, 0, 5);
  run_steps(fused, fused_params, 0, 5);
  for (size_t i = 0; i < init.size(); ++i) {
    // Moved by about 5 learning rates, so a missing or wrong update shows.
    EXPECT_GT((fused_params[i] - init[i]).abs().max().item<double>(), 2e-4) << i;
    EXPECT_LT(max_relative_diff(fused_params[i], plain_params[i]), 1e-6) << i;
    const auto& sp = static_cast<AdamParamState&>(*plain.state().at(plain_params[i].unsafeGetTensorImpl()));
    const auto& sf = static_cast<AdamParamState&>(*fused.state().at(fused_params[i].unsafeGetTensorImpl()));
    EXPECT_EQ(sf.step(), sp.step()) << i;
    EXPECT_EQ(sf.step(), i == 2 ? 4 : 5) << i;
    EXPECT_LT(max_relative_diff(sf.exp_avg(), sp.exp_avg()), 1e-6) << i;
    EXPECT_LT(max_relative_diff(sf.exp_avg_sq(), sp.exp_avg_sq()), 1e-6) << i;
  }
}

// Saved after 3 steps and loaded into a fresh optimizer (fused or not), the next 2 steps are
// those of the optimizer that never stopped.
TEST(FusedAdam, SaveLoadResumesIdentically) {
  const auto init = initial_weights();
  auto whole_params = copies(init);
  FusedAdam whole(whole_params, trainer_adam());
  run_steps(whole, whole_params, 0, 3);
  std::stringstream saved;
  {
    torch::serialize::OutputArchive ar;
    whole.save(ar);
    ar.save_to(saved);
  }
  auto resumed_params = copies(whole_params);
  FusedAdam resumed(resumed_params, trainer_adam());
  torch::serialize::InputArchive in;
  in.load_from(saved);
  resumed.load(in);
  run_steps(whole, whole_params, 3, 5);
  run_steps(resumed, resumed_params, 3, 5);
  for (size_t i = 0; i < init.size(); ++i) EXPECT_TRUE(resumed_params[i].equal(whole_params[i])) << i;

  // The state is torch::optim::Adam's too: LibTorch's Adam continues it to rounding.
  auto plain_params = copies(resumed_params);
  torch::optim::Adam plain(plain_params, trainer_adam());
  std::stringstream again;
  {
    torch::serialize::OutputArchive ar;
    resumed.save(ar);
    ar.save_to(again);
  }
  torch::serialize::InputArchive in2;
  in2.load_from(again);
  plain.load(in2);
  run_steps(plain, plain_params, 5, 7);
  run_steps(resumed, resumed_params, 5, 7);
  for (size_t i = 0; i < init.size(); ++i) EXPECT_LT(max_relative_diff(resumed_params[i], plain_params[i]), 1e-6) << i;
}

}  // namespace
}  // namespace cg
