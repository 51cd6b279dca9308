// The official "linear" learning-rate policy.
#pragma once

namespace cg {

// Multiplier of the initial lr for absolute epoch `epoch` (the first epoch of a fresh run is
// --epoch-count, 1 by default): 1 for the first n_epochs epochs, then a linear decay over
// n_epochs_decay epochs. The e-th epoch of a run is absolute epoch e + epoch_count - 1, which gives
// the official 1 - max(0, e + epoch_count - 1 - n_epochs) / (n_epochs_decay + 1).
double lr_factor(int epoch, int n_epochs, int n_epochs_decay);

}  // namespace cg
