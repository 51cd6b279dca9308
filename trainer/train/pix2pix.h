// The official pix2pix model (Isola et al. 2017; pytorch-CycleGAN-and-pix2pix pix2pix_model.py):
// one generator G: A -> B and a PatchGAN D that judges (A, B) pairs, conditioned on the input as
// cat(A, B) along the channels. D learns real pairs from G's pairs; G learns to fool D and to stay
// within L1 of the true B.
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

// lambda_L1 * mean |G(A) - B|: the term that ties G's output to the true B.
at::Tensor pix2pix_l1(const at::Tensor& fake_B, const at::Tensor& real_B, double lambda_L1);

class Pix2Pix : public TrainableModel {
 public:
  // Builds and initialises G then D (init_weights draws from LibTorch's generator, which the
  // caller seeds) and their optimizers; the pool (--pool-size, 0 by default: none) is seeded from
  // `seed` and `rank`.
  Pix2Pix(const TrainOptions& o, const torch::Device& device, uint64_t seed, int rank = 0);

  // The official names and order: G_GAN, G_L1, D_real, D_fake; then G_temporal with
  // --lambda-temporal.
  std::vector<std::string> loss_names() const override;
  // One iteration in the official order: fake_B = G(A); D on (D_real + D_fake) / 2 with
  // D_real = gan(D(cat(A, B)), real) and D_fake = gan(D(cat(A, fake_B)), fake); then, D frozen, G on
  // G_GAN + G_L1 with G_GAN = gan(D(cat(A, fake_B)), real) through the updated D.
  DeviceLosses step(const at::Tensor& real_A, const at::Tensor& real_B) override;
  // real_A, fake_B, real_B, with G as the exported G.pt runs it (see exports()).
  Visuals translate(const at::Tensor& real_A, const at::Tensor& real_B) override;

  Named<torch::nn::Module> networks() override;  // G, D
  Named<torch::optim::Optimizer> optimizers() override;
  Named<ImagePool> pools() override;
  Named<Rng> rngs() override;
  // G.pt: the A -> B generator (B -> A with --direction BtoA). Its batch norms normalise each frame
  // by its own statistics, as the official test.py does without --eval (the way pix2pix results
  // are made); `batch_stats` false uses the running statistics instead (test.py --eval).
  std::vector<GeneratorExport> exports() override;
  std::string describe() override;

  Generator G{nullptr};
  Discriminator D{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_G, optimizer_D;
  ImagePool pool;  // of cat(A, G(A)) pairs, as the official fake_AB_pool
  bool batch_stats = true;

 private:
  struct StepTensors;
  void update_discriminator(StepTensors& t);
  void update_generator(StepTensors& t);

  TrainOptions o_;
  GanMode gan_mode_;
  Rng temporal_rng_;  // the motions of --lambda-temporal, per rank, saved with the pool
};

}  // namespace cg
