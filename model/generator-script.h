// The TorchScript module inside a G.pt, written out from the generator's layers: its weights (the
// transposed convolutions in sub-pixel form) and an unrolled inference forward.
#pragma once

#include "model/networks.h"

#include <torch/csrc/jit/api/module.h>

namespace cg {

torch::jit::Module generator_script(ResnetGeneratorImpl& generator);

}  // namespace cg
