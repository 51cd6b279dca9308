// The official learning-rate policies (get_scheduler in models/networks.py), as multipliers of the
// initial --lr for each absolute epoch.
//
// The official train.py steps its schedulers once at the end of every epoch, so the e-th epoch of a
// run is trained after e - 1 steps. Absolute epoch `epoch` of a run that began at --epoch-count
// `epoch_count` is therefore at scheduler step k = epoch - epoch_count. A resume keeps the first
// run's epoch_count (the checkpoint records it), so a resumed schedule continues where it was.
#pragma once

#include <limits>
#include <string>
#include <vector>

namespace cg {

struct TrainOptions;

enum class LrPolicy { kLinear, kStep, kPlateau, kCosine };
// "linear", "step", "plateau", "cosine", in the enum's order: the choices of --lr-policy.
const std::vector<std::string>& lr_policy_names();
// Throws Error (usage) naming --lr-policy and the values it takes.
LrPolicy lr_policy_from(const std::string& name);

// linear: 1 for the first n_epochs epochs, then a linear decay over n_epochs_decay epochs. The official
// lambda 1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1) with k = epoch - epoch_count.
double lr_factor(int epoch, int n_epochs, int n_epochs_decay);

// step (StepLR, gamma 0.1): 0.1^floor(k / lr_decay_iters).
double step_lr_factor(int k, int lr_decay_iters);
// cosine (CosineAnnealingLR, T_max = n_epochs, eta_min 0) in closed form: (1 + cos(pi k / T_max)) / 2.
// Like torch's, it is periodic: past T_max it rises again.
double cosine_lr_factor(int k, int t_max);

// ReduceLROnPlateau(mode 'min', factor 0.2, threshold 0.01 relative, patience 5, cooldown 0,
// min_lr 0, eps 1e-8): what it keeps between epochs, and what a checkpoint saves of it.
struct PlateauState {
  double best = std::numeric_limits<double>::infinity();
  int bad_epochs = 0;
  double factor = 1.0;  // of the initial lr
};
constexpr double kPlateauFactor = 0.2;
constexpr double kPlateauThreshold = 0.01;
constexpr int kPlateauPatience = 5;
constexpr double kPlateauEps = 1e-8;

// One scheduler step at the end of an epoch whose metric was `metric`; `lr` is the initial lr
// (torch skips a reduction smaller than eps in absolute lr).
void plateau_step(PlateauState& s, double metric, double lr);

// The multiplier for absolute epoch `epoch` under o.lr_policy; plateau reads `plateau`.
double lr_factor(const TrainOptions& o, int epoch, const PlateauState& plateau);

}  // namespace cg
