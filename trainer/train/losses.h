// The CycleGAN objectives (Zhu et al. 2017, section 3; official models/networks.py GANLoss).
#pragma once

#include <ATen/core/Tensor.h>

#include <functional>
#include <string>
#include <vector>

namespace cg {

enum class GanMode { lsgan, vanilla, wgangp };
// "lsgan", "vanilla", "wgangp", in the enum's order: the choices of --gan-mode.
const std::vector<std::string>& gan_mode_names();
GanMode gan_mode_from(const std::string& name);  // throws Error (usage) naming the choices

// Adversarial loss of discriminator output `prediction` against an all-real or all-fake target:
// lsgan = mean squared error to 1 or 0; vanilla = binary cross-entropy on logits; wgangp (the
// critic's Wasserstein estimate) = -mean(prediction) for real, +mean(prediction) for fake.
at::Tensor gan_loss(const at::Tensor& prediction, bool target_is_real, GanMode mode);

// The official cal_gradient_penalty(type 'mixed', constant 1, lambda_gp 10) of WGAN-GP (Gulrajani
// et al. 2017): x = alpha * real + (1 - alpha) * fake with one alpha per sample (`alpha`, shape [N],
// drawn by the caller), g = d sum(D(x)) / dx kept differentiable, and
// lambda_gp * mean over samples of (|g + 1e-16|_2 - constant)^2. Its backward reaches D's weights.
at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& D, const at::Tensor& real,
                            const at::Tensor& fake, const at::Tensor& alpha, double constant = 1.0,
                            double lambda_gp = 10.0);

// lambda * mean |reconstruction - real|.
at::Tensor cycle_loss(const at::Tensor& reconstructed, const at::Tensor& real, double lambda);

// lambda * lambda_identity * mean |G(real of the target domain) - real|.
at::Tensor identity_loss(const at::Tensor& same, const at::Tensor& real, double lambda, double lambda_identity);

// The temporal consistency term (temporal-consistency.h): lambda * mean |second - moved| over the
// pixels `valid` (N x 1 x H x W) marks, where `second` is G's output for the second frame and
// `moved` its output for the first, moved as the input was. Gradients reach both.
at::Tensor temporal_loss(const at::Tensor& second, const at::Tensor& moved, const at::Tensor& valid, double lambda);

// 0.5 * (gan(D(real), real) + gan(D(fake), fake)): halved to slow D relative to G.
at::Tensor discriminator_loss(const at::Tensor& prediction_real, const at::Tensor& prediction_fake, GanMode mode);

// Distillation (GAN Compression, Li et al. 2020): lambda * mean |student - teacher| on the outputs,
// and lambda * the sum over feature pairs of mean (mapped student feature - teacher feature)^2.
at::Tensor reconstruction_loss(const at::Tensor& student, const at::Tensor& teacher, double lambda);
at::Tensor feature_loss(const std::vector<at::Tensor>& mapped_student, const std::vector<at::Tensor>& teacher,
                        double lambda);

}  // namespace cg
