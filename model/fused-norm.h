// Instance norm, ReLU and reflection padding in one pass over memory, for inference on the CPU.
// Apart, the three read a full-resolution activation five times and write it three times (group
// norm's statistics and normalisation, the ReLU, the copy into a padded tensor); together the
// statistics take one read and the padded, normalised, rectified output one read and one write.
#pragma once

#include <ATen/core/Tensor.h>

namespace cg {

// Whether fused_norm_relu_pad() takes x: float32 on the CPU, four dimensions, contiguous or
// channels-last, sides longer than `pad`, no autograd.
bool fused_norm_applies(const at::Tensor& x, int64_t pad);

// reflection_pad2d(relu(instance_norm(x)), pad) (without `relu`: no ReLU; `pad` 0: no padding),
// where instance_norm is InstanceNorm2d(affine=False) with eps 1e-5. Equal to the three apart
// within float rounding; the output has x's layout.
at::Tensor fused_norm_relu_pad(const at::Tensor& x, bool relu, int64_t pad);

}  // namespace cg
