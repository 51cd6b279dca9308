#include "trainer/train/mixed-precision.h"

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>

namespace cg {

AutocastScope::AutocastScope(c10::DeviceType device, std::optional<at::ScalarType> dtype) : device_(device) {
  if (!dtype) return;
  active_ = true;
  previous_enabled_ = at::autocast::is_autocast_enabled(device_);
  previous_dtype_ = at::autocast::get_autocast_dtype(device_);
  previous_cache_ = at::autocast::is_autocast_cache_enabled();
  at::autocast::set_autocast_enabled(device_, true);
  at::autocast::set_autocast_dtype(device_, *dtype);
  at::autocast::increment_nesting();
  at::autocast::set_autocast_cache_enabled(true);
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The cache holds low-precision copies of the weights; they go stale at the optimizer step.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  at::autocast::set_autocast_enabled(device_, previous_enabled_);
  at::autocast::set_autocast_dtype(device_, previous_dtype_);
  at::autocast::set_autocast_cache_enabled(previous_cache_);
}

LossScaler::LossScaler(bool enabled, const c10::Device& device, int64_t growth_interval)
    : enabled_(enabled), growth_interval_(growth_interval) {
  const auto f = at::TensorOptions().device(device).dtype(at::kFloat);
  scale_ = at::full({1}, State{}.scale, f);
  growth_tracker_ = at::zeros({1}, f.dtype(at::kInt));
  found_inf_ = at::zeros({1}, f);
}

at::Tensor LossScaler::scale(const at::Tensor& loss) const { return enabled_ ? loss * scale_ : loss; }

bool LossScaler::step(torch::optim::Optimizer& opt) {
  if (!enabled_) {
    opt.step();
    return true;
  }
  std::vector<at::Tensor> grads;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) grads.push_back(p.grad());
  auto found = at::zeros_like(found_inf_);
  // The reciprocal in double, as GradScaler takes it: 1/scale is then exact for powers of two.
  const auto inv_scale = scale_.to(at::kDouble).reciprocal().to(at::kFloat);
  at::_amp_foreach_non_finite_check_and_unscale_(grads, found, inv_scale);
  found_inf_.add_(found);
  if (found.item<float>() != 0) return false;
  opt.step();
  return true;
}

void LossScaler::update() {
  if (!enabled_) return;
  at::_amp_update_scale_(scale_, growth_tracker_, found_inf_, 2.0, 0.5, growth_interval_);
  found_inf_.zero_();
}

LossScaler::State LossScaler::state() const { return {scale_.item<double>(), growth_tracker_.item<int64_t>()}; }

void LossScaler::restore(const State& s) {
  scale_.fill_(s.scale);
  growth_tracker_.fill_(s.growth_tracker);
}

}  // namespace cg
