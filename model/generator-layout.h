// The ResNet generator of Zhu et al. 2017 described once, layer by layer in the official
// nn.Sequential order (pytorch-CycleGAN-and-pix2pix, models/networks.py): a layer's place in the
// list is its index in the official state_dict keys, "model.N..." and, inside a residual block,
// "model.N.conv_block.K...". The C++ module, its training and inference forwards, the TorchScript
// source of a G.pt and the importer of official weights all walk these lists; a new architecture
// is a new list.
#pragma once

#include <cstdint>
#include <vector>

namespace cg {

struct GeneratorOptions {
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  int64_t ngf = 64;
  int64_t n_blocks = 9;      // resnet_9blocks; 6 for resnet_6blocks
  bool use_dropout = false;  // the cycle_gan model trains without dropout
};

enum class LayerKind {
  kReflectPad,  // padding on every side
  kConv,        // Conv2d with bias: in -> out channels, kernel, stride, padding
  kNorm,        // InstanceNorm2d(out), affine=False, no running statistics
  kRelu,
  kDropout,   // Dropout(0.5)
  kResidual,  // ResnetBlock(out): x + residual_layers(out, dropout)(x)
  kUpConv,    // ConvTranspose2d(in, out, 3, stride 2, padding 1, output_padding 1)
  kTanh,
};

struct Layer {
  LayerKind kind;
  int64_t in = 0, out = 0;
  int64_t kernel = 0, stride = 1, padding = 0;
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

// The element count of the largest tensor one image of channels x height x width produces on its
// way through `layers` (padded copies included). GPU kernels that index with 32 bits refuse
// tensors over 2^31 - 1 elements, so this decides how many frames fit in one pass.
int64_t largest_activation(const Layers& layers, int64_t channels, int64_t height, int64_t width);

// Positions in `layers` of every layer of `kind`, in order.
std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind);

}  // namespace cg
