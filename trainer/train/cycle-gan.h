// The cycle_gan model: two generators, two discriminators, their optimizers and image pools,
// and one training iteration in the official order.
#pragma once

#include "model/discriminators.h"
#include "model/networks.h"
#include "trainer/data/image-pool.h"
#include "trainer/train/losses.h"
#include "trainer/train/options.h"
#include "trainer/train/temporal-consistency.h"
#include "trainer/train/trainable.h"

#include <torch/optim/adam.h>

#include <memory>

namespace cg {

class CycleGan : public TrainableModel {
 public:
  // Builds and initialises the networks (init_weights draws from LibTorch's generator, which the
  // caller seeds) and the optimizers; pools are seeded from `seed`.
  // `rank` (of a distributed run) gives each rank's pools their own random stream.
  CycleGan(const TrainOptions& o, const torch::Device& device, uint64_t seed, int rank = 0);

  // The official loss names, in the official order.
  std::vector<std::string> loss_names() const override;
  // One iteration: generators (discriminators frozen), then discriminators.
  DeviceLosses step(const at::Tensor& real_A, const at::Tensor& real_B) override;
  // real_A, G_A(A), G_B(G_A(A)), real_B, G_B(B), G_A(G_B(B)) without gradients.
  Visuals translate(const at::Tensor& real_A, const at::Tensor& real_B) override;

  // The four networks in the official creation order.
  Named<torch::nn::Module> networks() override;
  Named<torch::optim::Optimizer> optimizers() override;
  Named<ImagePool> pools() override;
  Named<Rng> rngs() override;
  std::vector<GeneratorExport> exports() override;
  std::string describe() override;

  Generator G_A{nullptr}, G_B{nullptr};
  Discriminator D_A{nullptr}, D_B{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_G, optimizer_D;
  ImagePool pool_A, pool_B;  // pool_A holds fakes of domain A (for D_B), pool_B fakes of B (for D_A)

 private:
  // One step in the official order: forward, then backward_G, then backward_D_A and _B.
  struct StepTensors;
  void forward(StepTensors& t);
  void forward_official(StepTensors& t);
  void generators_backward(StepTensors& t);
  void discriminators_backward(StepTensors& t);
  void step_averaged(torch::optim::Optimizer& optimizer);
  // Under autocast when mode.amp says so; the backward passes run outside it, as torch.autocast
  // asks.
  at::Tensor generator_loss(StepTensors& t);
  at::Tensor discriminator_loss(Discriminator& D, const at::Tensor& real, const at::Tensor& fake);

  TrainOptions o_;
  GanMode gan_mode_;
  // The mixing weights of the wgangp gradient penalty: seeded per rank and saved with the pools, so
  // a resumed run draws what an uninterrupted one would.
  Rng penalty_rng_;
  // The motions of --lambda-temporal, kept the same way.
  Rng temporal_rng_;
};

}  // namespace cg
