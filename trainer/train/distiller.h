// Distillation of a trained generator (the teacher, any G.pt) into a smaller student generator,
// as GAN Compression does it (Li et al., CVPR 2020): the student learns the teacher's outputs
// (L1), its intermediate features through learned 1x1 convolutions, and an LSGAN term against
// real images of the target domain, so it is more than a blurred copy.
#pragma once

#include "model/discriminators.h"
#include "model/model-file.h"
#include "model/networks.h"
#include "trainer/train/losses.h"
#include "trainer/train/options.h"
#include "trainer/train/student-presets.h"
#include "trainer/train/temporal-consistency.h"
#include "trainer/train/trainable.h"

#include <torch/nn/modules/container/modulelist.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cg {

// Settles what a distillation run leaves open, before anything is built: the student's
// architecture from --student unless given one by one, and the direction from the teacher's
// metadata. Throws Error for a teacher that is missing or not a generator, and for a --direction
// that contradicts the teacher's. Returns the teacher, loaded once for these and the Distiller.
LoadedModel settle_distill_options(TrainOptions& opt, const std::map<std::string, bool>& given);

// The sides of the images a distillation trains on: both the student's and the teacher's size
// rule. Throws a usage Error naming the rule a crop does not fit.
SizeRule distill_size_rule(const TrainOptions& o, const LoadedModel& teacher);

// Top-level positions whose outputs are distilled: the end of the downsampling and the trunk
// after each third of the residual blocks (fewer with fewer blocks); `count` of them.
std::vector<int64_t> feature_taps(const Layers& layers, int64_t count);

class Distiller : public TrainableModel {
 public:
  // Loads the teacher (frozen) and builds the student, the feature mappings and the
  // discriminator, initialised from LibTorch's generator, which the caller seeds.
  Distiller(const TrainOptions& o, const torch::Device& device);
  // The same with the teacher settle_distill_options loaded; `seed` and `rank` (of a distributed
  // run) seed the motions of --lambda-temporal.
  Distiller(const TrainOptions& o, const torch::Device& device, LoadedModel teacher, uint64_t seed = 0, int rank = 0);

  // G_recon, G_feat, G_gan, D; then G_temporal with --lambda-temporal.
  std::vector<std::string> loss_names() const override;
  DeviceLosses step(const at::Tensor& real_A, const at::Tensor& real_B) override;
  // real_A, teacher(A), student(A), real_B.
  Visuals translate(const at::Tensor& real_A, const at::Tensor& real_B) override;
  Named<torch::nn::Module> networks() override;
  Named<torch::optim::Optimizer> optimizers() override;
  Named<Rng> rngs() override;
  std::vector<GeneratorExport> exports() override;
  std::string describe() override;

  Generator student{nullptr};
  torch::nn::ModuleList mappings{nullptr};  // 1x1 convs, student channels -> teacher channels
  Discriminator D{nullptr};
  std::unique_ptr<torch::optim::Adam> optimizer_G, optimizer_D;

 private:
  // The teacher's output, and its features at teacher_taps_ when its layers are known.
  at::Tensor teach(const at::Tensor& x, std::vector<at::Tensor>& features);

  TrainOptions o_;
  LoadedModel teacher_file_;
  Generator teacher_{nullptr};  // null for a TorchScript teacher without our metadata
  std::vector<int64_t> teacher_taps_, student_taps_;
  Rng temporal_rng_;
};

}  // namespace cg
