// The generator's forward as training runs it.
#pragma once

#include "networks.h"

namespace cg {

// The same mathematics as ResnetGeneratorImpl::forward (InstanceNorm as group_norm, one group
// per channel), but the two upsampling layers run as plain transposed convolutions: the
// sub-pixel form that makes inference fast has a slower backward pass in LibTorch 2.x
// (measured ~70 ms against ~40 ms forward + backward for the first upsampling at 256x256, one
// thread).
at::Tensor generator_training_forward(ResnetGeneratorImpl& g, const at::Tensor& x);

}  // namespace cg
