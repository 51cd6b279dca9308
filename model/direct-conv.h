// A direct CPU kernel for the generators' last convolution: few output channels (3 for RGB), a
// large kernel (7x7), full resolution. oneDNN blocks output channels by 8 or 16, so with 3 of them
// it reaches a fifth of the CPU's convolution throughput there (24 GFLOP/s against 120 on 2 AVX2
// cores: 50 ms of a resnet_9blocks frame at 256x256); this one keeps the few outputs of 32 pixels
// in registers and streams the input once per kernel row.
#pragma once

#include <ATen/core/Tensor.h>

namespace cg {

// Whether direct_conv() takes this convolution: inference on the CPU in float32, stride 1, no
// padding, no groups, at most kDirectConvMaxOutputs outputs, an output row of at least 8 pixels,
// the input contiguous or channels-last with a multiple of 8 channels, and a CPU with AVX2 and
// FMA (checked once at run time; the build targets baseline x86-64).
constexpr int64_t kDirectConvMaxOutputs = 4;
// Whether this CPU runs AVX2 and FMA code (the CPU kernels' fast paths; x86-64 only).
bool cpu_has_avx2_fma();
bool direct_conv_applies(const at::Tensor& x, const at::Tensor& weight, int64_t stride, int64_t padding,
                         int64_t groups);

// conv2d(x, weight, bias) for what direct_conv_applies() accepts; equal to it within float
// rounding (the sums run in another order and with fused multiply-adds).
at::Tensor direct_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias);

}  // namespace cg
