#include "trainer/train/schedule.h"

#include "common/error.h"
#include "trainer/train/options.h"

#include <algorithm>
#include <cmath>

namespace cg {

const std::vector<std::string>& lr_policy_names() {
  static const std::vector<std::string> names = {"linear", "step", "plateau", "cosine"};
  return names;
}

LrPolicy lr_policy_from(const std::string& name) {
  return static_cast<LrPolicy>(choice_index(lr_policy_names(), name, "--lr-policy"));
}

double lr_factor(int epoch, int n_epochs, int n_epochs_decay) {
  return 1.0 - static_cast<double>(std::max(0, epoch - n_epochs)) / static_cast<double>(n_epochs_decay + 1);
}

double step_lr_factor(int k, int lr_decay_iters) { return std::pow(0.1, k / lr_decay_iters); }

double cosine_lr_factor(int k, int t_max) {
  return (1.0 + std::cos(M_PI * static_cast<double>(k) / static_cast<double>(t_max))) / 2.0;
}

void plateau_step(PlateauState& s, double metric, double lr) {
  // mode 'min', threshold_mode 'rel': better means below best by more than the threshold's share.
  if (metric < s.best * (1.0 - kPlateauThreshold)) {
    s.best = metric;
    s.bad_epochs = 0;
  } else {
    ++s.bad_epochs;
  }
  if (s.bad_epochs > kPlateauPatience) {
    const double reduced = s.factor * kPlateauFactor;
    if (lr * s.factor - lr * reduced > kPlateauEps) s.factor = reduced;
    s.bad_epochs = 0;
  }
}

double lr_factor(const TrainOptions& o, int epoch, const PlateauState& plateau) {
  const int k = epoch - o.epoch_count;
  switch (lr_policy_from(o.lr_policy)) {
    case LrPolicy::kLinear: return lr_factor(epoch, o.n_epochs, o.n_epochs_decay);
    case LrPolicy::kStep: return step_lr_factor(k, o.lr_decay_iters);
    case LrPolicy::kCosine: return cosine_lr_factor(k, o.n_epochs);
    case LrPolicy::kPlateau: return plateau.factor;
  }
  return 1.0;
}

}  // namespace cg
