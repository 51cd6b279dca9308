// Mixed-precision training: autocast around the forward passes and losses, and for fp16 a loss
// scaler with the update rule of torch.amp.GradScaler, so small gradients survive fp16.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <optional>

namespace cg {

// Autocast to `dtype` on `device` for the scope's lifetime, as torch.autocast does; no dtype
// leaves everything as it is. Autocast state is per thread: the scope must end on its thread.
class AutocastScope {
 public:
  AutocastScope(c10::DeviceType device, std::optional<at::ScalarType> dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  c10::DeviceType device_;
  bool active_ = false;
  bool previous_enabled_ = false;
  at::ScalarType previous_dtype_ = at::kFloat;
  bool previous_cache_ = true;
};

// Loss scaling for fp16. Per iteration: backward on scale(loss), step(optimizer) for each
// optimizer, then update(). A disabled scaler passes losses and steps through unchanged.
class LossScaler {
 public:
  struct State {
    double scale = 65536.0;  // torch.amp.GradScaler's defaults
    int64_t growth_tracker = 0;
  };

  LossScaler(bool enabled, const c10::Device& device, int64_t growth_interval = 2000);

  bool enabled() const { return enabled_; }
  at::Tensor scale(const at::Tensor& loss) const;
  // Unscales the gradients of `opt`'s parameters and steps it only if they are all finite
  // (one wait for the device, to keep Adam's step counts exact). Returns whether it stepped.
  bool step(torch::optim::Optimizer& opt);
  // Halves the scale after an iteration with non-finite gradients; doubles it after
  // growth_interval iterations without.
  void update();

  State state() const;  // waits for the device
  void restore(const State& s);

 private:
  bool enabled_;
  int64_t growth_interval_;
  at::Tensor scale_;           // float32 [1], on the device
  at::Tensor growth_tracker_;  // int32 [1]
  at::Tensor found_inf_;       // float32 [1], summed over the iteration's steps
};

}  // namespace cg
