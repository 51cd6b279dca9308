#include "trainer/train/losses.h"

#include "trainer/train/options.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <stdexcept>

namespace cg {

const std::vector<std::string>& gan_mode_names() {
  static const std::vector<std::string> names = {"lsgan", "vanilla", "wgangp"};
  return names;
}

GanMode gan_mode_from(const std::string& name) {
  return static_cast<GanMode>(choice_index(gan_mode_names(), name, "--gan-mode"));
}

at::Tensor gan_loss(const at::Tensor& prediction, bool target_is_real, GanMode mode) {
  if (mode == GanMode::wgangp) return target_is_real ? -prediction.mean() : prediction.mean();
  const at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
  if (mode == GanMode::lsgan) return at::mse_loss(prediction, target);
  return at::binary_cross_entropy_with_logits(prediction, target);
}

at::Tensor gradient_penalty(const std::function<at::Tensor(const at::Tensor&)>& D, const at::Tensor& real,
                            const at::Tensor& fake, const at::Tensor& alpha, double constant, double lambda_gp) {
  if (real.sizes() != fake.sizes())
    throw std::invalid_argument("the gradient penalty mixes real and generated images, which must have the same shape");
  const int64_t n = real.size(0);
  const at::Tensor a = alpha.to(real.options()).reshape({n, 1, 1, 1});
  const at::Tensor mixed = (a * real + (1 - a) * fake).detach().requires_grad_(true);
  const at::Tensor out = D(mixed);
  const at::Tensor grad = torch::autograd::grad({out}, {mixed}, {at::ones_like(out)}, /*retain_graph=*/true,
                                                /*create_graph=*/true)[0];
  const at::Tensor norms = (grad.to(at::kFloat).reshape({n, -1}) + 1e-16).norm(2, 1);
  return (norms - constant).pow(2).mean() * lambda_gp;
}

at::Tensor cycle_loss(const at::Tensor& reconstructed, const at::Tensor& real, double lambda) {
  return at::l1_loss(reconstructed, real) * lambda;
}

at::Tensor temporal_loss(const at::Tensor& second, const at::Tensor& moved, const at::Tensor& valid, double lambda) {
  const at::Tensor weight = valid.expand_as(second);
  // clamp: a motion that moves every pixel out of a small image leaves nothing to compare.
  return (at::abs(second - moved) * weight).sum() / weight.sum().clamp_min(1.0) * lambda;
}

at::Tensor identity_loss(const at::Tensor& same, const at::Tensor& real, double lambda, double lambda_identity) {
  return at::l1_loss(same, real) * (lambda * lambda_identity);
}

at::Tensor discriminator_loss(const at::Tensor& prediction_real, const at::Tensor& prediction_fake, GanMode mode) {
  return (gan_loss(prediction_real, true, mode) + gan_loss(prediction_fake, false, mode)) * 0.5;
}

at::Tensor reconstruction_loss(const at::Tensor& student, const at::Tensor& teacher, double lambda) {
  return at::l1_loss(student, teacher) * lambda;
}

at::Tensor feature_loss(const std::vector<at::Tensor>& mapped_student, const std::vector<at::Tensor>& teacher,
                        double lambda) {
  if (mapped_student.size() != teacher.size()) throw std::invalid_argument("feature_loss: unequal feature counts");
  at::Tensor sum = at::zeros({}, teacher.empty() ? at::TensorOptions() : teacher[0].options());
  for (size_t i = 0; i < teacher.size(); ++i) sum = sum + at::mse_loss(mapped_student[i], teacher[i]);
  return sum * lambda;
}

}  // namespace cg
