#include "trainer/train/schedule.h"

#include <algorithm>

namespace cg {

double lr_factor(int epoch, int n_epochs, int n_epochs_decay) {
  return 1.0 - static_cast<double>(std::max(0, epoch - n_epochs)) / static_cast<double>(n_epochs_decay + 1);
}

}  // namespace cg
