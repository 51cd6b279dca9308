// The cycle_gan model: two generators, two discriminators, their optimizers and image pools,
// and one training iteration in the official order.
#pragma once

#include "model/networks.h"
#include "trainer/data/image-pool.h"
#include "trainer/train/losses.h"
#include "trainer/train/mixed-precision.h"
#include "trainer/train/options.h"
#include "trainer/train/run-mode.h"

#include <torch/optim/adam.h>

#include <array>
#include <functional>
#include <memory>

namespace cg {

// The official loss names, in the official order.
struct Losses {
  static constexpr std::array<const char*, 8> kNames = {"D_A", "G_A", "cycle_A", "idt_A",
                                                        "D_B", "G_B", "cycle_B", "idt_B"};
  std::array<double, 8> values{};
};

// The losses of one step (or a sum of steps) as one float64 tensor of 8 on the model's device.
// Reading values waits for the device, so the training loop reads only what it shows; float64
// keeps sums and means what summing the values as doubles on the host gives.
struct DeviceLosses {
  at::Tensor values;

  Losses read() const;  // one copy to the host
  DeviceLosses& operator+=(const DeviceLosses& other);
};

struct Visuals {
  at::Tensor real_A, fake_B, rec_A, real_B, fake_A, rec_B;
};

class CycleGan {
 public:
  // Builds and initialises the networks (init_weights draws from LibTorch's generator, which the
  // caller seeds) and the optimizers; pools are seeded from `seed`.
  // `rank` (of a distributed run) gives each rank's pools their own random stream.
  CycleGan(const TrainOptions& o, const torch::Device& device, uint64_t seed, int rank = 0);

  // One iteration: generators (discriminators frozen), then discriminators. The batches may be
  // in pinned host memory: they are copied to the device without blocking.
  DeviceLosses step(const at::Tensor& real_A, const at::Tensor& real_B);

  // G_A(A), G_B(G_A(A)), G_B(B), G_A(G_B(B)) without gradients.
  Visuals translate(const at::Tensor& real_A, const at::Tensor& real_B);

  // The four networks under their checkpoint names, in the official creation order.
  std::array<std::pair<const char*, torch::nn::Module*>, 4> networks();

  void set_lr(double lr);
  double lr() const;

  ResnetGenerator G_A{nullptr}, G_B{nullptr};
  NLayerDiscriminator D_A{nullptr}, D_B{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_G, optimizer_D;
  ImagePool pool_A, pool_B;  // pool_A holds fakes of domain A (for D_B), pool_B fakes of B (for D_A)
  torch::Device device;
  RunMode mode;       // from the options and the device; the process-wide part is train.cpp's
  LossScaler scaler;  // enabled for fp16 only
  // Distributed runs: averages the gradients of these parameters over the ranks, between each
  // backward and its optimizer step. Empty when training alone.
  std::function<void(const std::vector<at::Tensor>&)> sync_gradients;

 private:
  // One step in the official order: forward, then backward_G, then backward_D_A and _B.
  struct StepTensors;
  void forward(StepTensors& t);
  void update_generators(StepTensors& t);
  void update_discriminators(StepTensors& t);
  // Under autocast when mode.amp says so; the backward passes run outside it, as torch.autocast
  // asks.
  at::Tensor generator_loss(StepTensors& t);
  at::Tensor discriminator_loss(NLayerDiscriminator& D, const at::Tensor& real, const at::Tensor& fake);

  TrainOptions o_;
  GanMode gan_mode_;
};

}  // namespace cg
