// The TorchScript module inside a G.pt, written out from the generator's layers: its weights (the
// transposed convolutions in sub-pixel form) and an unrolled inference forward.
#pragma once

#include "model/networks.h"

#include <torch/csrc/jit/api/module.h>

namespace cg {

// batch_stats: batch norms normalise each frame by its own statistics (the official test.py
// without --eval) rather than by their running statistics (model.eval()).
torch::jit::Module generator_script(GeneratorImpl& generator, bool batch_stats = false);

}  // namespace cg
