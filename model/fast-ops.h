// Faster, mathematically equivalent formulations of the generator's slow layers.
#pragma once

#include <ATen/core/Tensor.h>

namespace cg {

// ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1) as a 2x2 convolution producing the
// four output phases, followed by pixel_shuffle(2). `weight` is the transposed conv's
// [in, out, 3, 3]; the result is the conv weight [4*out, in, 2, 2]. Differentiable.
at::Tensor subpixel_weight(const at::Tensor& transposed_weight);
at::Tensor subpixel_bias(const at::Tensor& transposed_bias);
// The inverse of the two above: a G.pt's stored sub-pixel form back to the transposed conv's.
at::Tensor transposed_weight(const at::Tensor& subpixel_weight);
at::Tensor transposed_bias(const at::Tensor& subpixel_bias);
at::Tensor subpixel_upsample(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

// reflection_pad2d by `p` on every side, built from narrow, flip and cat: the same values, but its
// backward is plain copies, so it is deterministic on CUDA where reflection_pad2d's backward
// accumulates with atomics. Needs p < height and p < width, as reflection_pad2d does.
at::Tensor reflect_pad(const at::Tensor& x, int64_t p);

// InstanceNorm2d(affine=False, track_running_stats=False) == group_norm with one group per channel.
at::Tensor instance_norm(const at::Tensor& x);

}  // namespace cg
