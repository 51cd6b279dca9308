// The ResNet generator of Zhu et al. 2017 described once, layer by layer in the official
// nn.Sequential order (pytorch-CycleGAN-and-pix2pix, models/networks.py): a layer's place in the
// list is its index in the official state_dict keys, "model.N..." and, inside a residual block,
// "model.N.conv_block.K...". The C++ module, its training and inference forwards, the TorchScript
// source of a G.pt, the importer of official weights and the cost counts all walk these lists; a
// new architecture is a new list.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cg {

struct GeneratorOptions {
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  int64_t ngf = 64;
  int64_t n_blocks = 9;      // resnet_9blocks; 6 for resnet_6blocks
  bool use_dropout = false;  // the cycle_gan model trains without dropout
  // Residual blocks of depthwise-separable convolutions (the "mobile" ResNet of GAN Compression,
  // Li et al. 2020): about 8x fewer multiply-adds per block at 256 channels. For students.
  bool mobile = false;
};

// "resnet_9blocks", "mobile_resnet_6blocks": the name metadata and messages use.
std::string architecture_name(const GeneratorOptions& o);

enum class LayerKind {
  kReflectPad,  // padding on every side
  kConv,        // Conv2d with bias: in -> out channels, kernel, stride, padding, groups
  kNorm,        // InstanceNorm2d(out), affine=False, no running statistics
  kRelu,
  kDropout,         // Dropout(0.5)
  kResidual,        // ResnetBlock(out): x + residual_layers(out, dropout)(x)
  kMobileResidual,  // the same with mobile_residual_layers(out, dropout)
  kUpConv,          // ConvTranspose2d(in, out, 3, stride 2, padding 1, output_padding 1)
  kTanh,
};

struct Layer {
  LayerKind kind;
  int64_t in = 0, out = 0;
  int64_t kernel = 0, stride = 1, padding = 0;
  int64_t groups = 1;  // kConv: in == out == groups is a depthwise convolution
};

using Layers = std::vector<Layer>;

// Stride-2 convolutions on the way down (and transposed ones on the way up).
constexpr int64_t kDownsamplings = 2;
// Frames must have sides that are multiples of this, so the way up restores the input's size...
constexpr int64_t kSizeMultiple = int64_t{1} << kDownsamplings;
// ...and at least this, so the residual blocks' reflection pads of 1 see sides of 2 or more.
constexpr int64_t kMinSize = 2 * kSizeMultiple;

Layers generator_layers(const GeneratorOptions& o);
Layers residual_layers(int64_t dim, bool use_dropout);
// Each 3x3 conv of the official block becomes a depthwise 3x3 conv, InstanceNorm and a 1x1 conv
// (GAN Compression's SeparableConv2d); the norms, ReLU and dropout stay where they were.
Layers mobile_residual_layers(int64_t dim, bool use_dropout);
// The layers inside a kResidual or kMobileResidual layer.
Layers block_layers(const Layer& block, bool use_dropout);

// Multiply-adds of one image of channels x height x width through `layers`, convolutions only
// (norms, pads and activations are a rounding error next to them). A transposed convolution is
// counted per input pixel, as it computes: 49.55 G for resnet_9blocks/ngf 64 at 256x256 (counters
// that count it per output pixel say 56.8 G).
int64_t count_macs(const Layers& layers, int64_t channels, int64_t height, int64_t width);

// The element count of the largest tensor one image of channels x height x width produces on its
// way through `layers` (padded copies included). GPU kernels that index with 32 bits refuse
// tensors over 2^31 - 1 elements, so this decides how many frames fit in one pass.
int64_t largest_activation(const Layers& layers, int64_t channels, int64_t height, int64_t width);

// Positions in `layers` of every layer of `kind`, in order.
std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind);

}  // namespace cg
