// The generators described once, layer by layer in their official nn.Sequential order: a layer's
// place in the list is its index in the state_dict keys. The ResNet generator of Zhu et al. 2017
// (pytorch-CycleGAN-and-pix2pix, models/networks.py) has "model.N..." and, inside a residual
// block, "model.N.conv_block.K..."; CUT's anti-aliased variant (contrastive-unpaired-translation)
// adds fixed blur layers, which shift the indices; the U-Net of pix2pix nests its skip blocks:
// "model.model.N...", "model.model.1.model.K...". The C++ module, its training and inference
// forwards, the TorchScript source of a G.pt, the importer of other projects' weights and the cost
// counts all walk these lists; a new architecture is a new list.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cg {

enum class Family {
  kResnet,  // ResnetGenerator: resnet_Nblocks
  kUnet,    // UnetGenerator: unet_128 (7 downsamplings), unet_256 (8)
};

const char* family_name(Family f);          // "resnet", "unet"
Family parse_family(const std::string& s);  // throws std::invalid_argument naming the value

enum class Norm {
  kInstance,        // InstanceNorm2d, affine=False: the cycle_gan default
  kInstanceAffine,  // InstanceNorm2d, affine=True: many third-party implementations
  kBatch,           // BatchNorm2d with running statistics: the pix2pix default
  kNone,            // an Identity at the norm's index
};

// The official use_bias rule: convolutions followed by a norm have a bias only with instance norm.
bool norm_uses_bias(Norm n);
const char* norm_name(Norm n);          // "instance", "instance_affine", "batch", "none"
Norm parse_norm(const std::string& s);  // throws std::invalid_argument naming the value

struct GeneratorOptions {
  Family family = Family::kResnet;
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  int64_t ngf = 64;
  int64_t n_blocks = 9;      // resnet_9blocks; 6 for resnet_6blocks
  bool use_dropout = false;  // the cycle_gan model trains without dropout
  // Residual blocks of depthwise-separable convolutions (the "mobile" ResNet of GAN Compression,
  // Li et al. 2020): about 8x fewer multiply-adds per block at 256 channels. For students.
  bool mobile = false;
  Norm norm = Norm::kInstance;
  // CUT's anti-aliasing (Zhang 2019): a stride-1 conv then a fixed 3x3 blur with stride 2 on the
  // way down; a fixed 4x4 blur with stride 2 then a 3x3 conv on the way up.
  bool antialias_down = false;
  bool antialias_up = false;
  // Nearest-neighbour 2x upsampling then a 3x3 conv on the way up (third-party ResNets).
  bool upsample_conv = false;
  int64_t unet_downs = 8;  // kUnet: the official num_downs, at least 5
  // kResnet: 2 or 4 folds r x r pixels into channels before the first convolution (pixel_unshuffle)
  // and unfolds them after the last (pixel_shuffle), each taking the place of a stride-2
  // downsampling and its upsampling, so that nothing convolves at full resolution, where
  // few-channel layers are bound by memory rather than arithmetic. 1: the official layout.
  int64_t space_to_depth = 1;
};

// The space_to_depth factors the ResNet layout takes: the trunk stays at 1/2^kDownsamplings.
bool valid_space_to_depth(int64_t factor);

// "resnet_9blocks", "mobile_resnet_6blocks", "s2d4_mobile_resnet_6blocks", "unet_256": the name
// metadata and messages use.
std::string architecture_name(const GeneratorOptions& o);
// The sides of a frame must be multiples of this (the space-to-depth factor times 2^downsamplings:
// 4 for ResNets whatever the factor, 256 for unet_256), so the way up restores the input's size...
int64_t size_multiple(const GeneratorOptions& o);
// ...and at least this: a ResNet's residual blocks, and the 3x3 convolutions after a
// space-to-depth, reflect-pad by 1 and need sides of 2 there.
int64_t min_size(const GeneratorOptions& o);

// The two together: what the engine pads frames to, the trainer checks crops against and a G.pt
// records. Every "multiple of" in a message or help text comes from one of these.
struct SizeRule {
  int64_t multiple = 0;
  int64_t min = 0;
  // The smallest side the generator takes that is at least `side`.
  int64_t padded(int64_t side) const;
  bool fits(int64_t side) const { return side >= min && side % multiple == 0; }
  // "multiples of 4, at least 8": for messages.
  std::string describe() const;
};
SizeRule size_rule(const GeneratorOptions& o);

enum class LayerKind {
  kReflectPad,  // padding on every side
  kConv,        // Conv2d with bias: in -> out channels, kernel, stride, padding, groups
  kNorm,        // Layer::norm of `out` channels
  kRelu,
  kLeakyRelu,       // LeakyReLU(0.2)
  kDropout,         // Dropout(0.5)
  kResidual,        // ResnetBlock(out): x + residual_layers(out, dropout)(x)
  kMobileResidual,  // the same with mobile_residual_layers(out, dropout)
  kUpConv,          // ConvTranspose2d(in, out, kernel, stride 2, padding, output padding to double the size)
  kTanh,
  kBlurDown,   // CUT's Downsample(out): reflect pad 1, fixed 3x3 blur, stride 2, buffer "filt"
  kBlurUp,     // CUT's Upsample(out): replicate pad 1, fixed 4x4 transposed blur, stride 2, crop
  kNearestUp,  // Upsample(scale_factor=2), nearest
  kSkip,       // UnetSkipConnectionBlock: cat(x, inner(x)), its layers under ".model"
  // PixelUnshuffle(stride): `in` channels become in * stride^2 at 1/stride of the size; channel
  // c * stride^2 + i * stride + j holds pixel (i, j) of each stride x stride cell of channel c.
  kSpaceToDepth,
  kDepthToSpace,  // PixelShuffle(stride), its inverse: `in` = out * stride^2 channels to `out`
};

struct Layer {
  LayerKind kind;
  int64_t in = 0, out = 0;
  int64_t kernel = 0, stride = 1, padding = 0;
  int64_t groups = 1;                               // kConv: in == out == groups is a depthwise convolution
  bool bias = true;                                 // kConv, kUpConv
  Norm norm = Norm::kInstance;                      // kNorm; kResidual, kMobileResidual: the blocks' norm
  std::shared_ptr<const std::vector<Layer>> inner;  // kSkip: the block's own layers
};

using Layers = std::vector<Layer>;

// A ResNet generator's halvings of resolution on the way down, each a stride-2 convolution or a
// factor 2 of its space-to-depth (and the same doublings on the way up): its trunk runs at
// 1/2^kDownsamplings whatever the factor, so students and teachers tap features of one size.
constexpr int64_t kDownsamplings = 2;
// The ResNet generators' size_multiple() and min_size(): what a generator whose layers are not
// known (a TorchScript file without our metadata) is first probed with.
constexpr int64_t kSizeMultiple = int64_t{1} << kDownsamplings;
constexpr int64_t kMinSize = 2 * kSizeMultiple;

Layers generator_layers(const GeneratorOptions& o);
Layers residual_layers(int64_t dim, bool use_dropout, Norm norm = Norm::kInstance);
// Each 3x3 conv of the official block becomes a depthwise 3x3 conv, InstanceNorm and a 1x1 conv
// (GAN Compression's SeparableConv2d); the norms, ReLU and dropout stay where they were.
Layers mobile_residual_layers(int64_t dim, bool use_dropout, Norm norm = Norm::kInstance);
// The layers inside a kResidual, kMobileResidual or kSkip layer (a kSkip's dropout is its own).
Layers block_layers(const Layer& block, bool use_dropout);

// Multiply-adds of one image of channels x height x width through `layers`, convolutions only
// (norms, pads and activations are a rounding error next to them). A transposed convolution is
// counted per input pixel, as it computes: 49.55 G for resnet_9blocks/ngf 64 at 256x256 (counters
// that count it per output pixel say 56.8 G).
int64_t count_macs(const Layers& layers, int64_t channels, int64_t height, int64_t width);
// The frame side at which a generator's cost is quoted (metadata, `info`, distill's banner).
constexpr int64_t kCostFrameSide = 256;
// count_macs() of the generator of `o` on one kCostFrameSide x kCostFrameSide frame.
int64_t macs_per_frame(const GeneratorOptions& o);

// The element count of the largest tensor one image of channels x height x width produces on its
// way through `layers` (padded copies included). GPU kernels that index with 32 bits refuse
// tensors over 2^31 - 1 elements, so this decides how many frames fit in one pass.
int64_t largest_activation(const Layers& layers, int64_t channels, int64_t height, int64_t width);

// One tensor of the official state_dict: its key and shape. BatchNorm's num_batches_tracked, a
// counter, is left out.
struct TensorSpec {
  std::string key;
  std::vector<int64_t> shape;
};

// The state_dict of the generator of `o` in the order PyTorch writes it: module by module, each
// module's parameters, then its buffers (batch-norm running statistics, CUT's blur filters).
std::vector<TensorSpec> state_dict_layout(const GeneratorOptions& o);
// The key of the Sequential that holds generator_layers(): "model" for ResNets, "model.model" for
// U-Nets (the outermost skip block's own Sequential).
std::string state_dict_prefix(const GeneratorOptions& o);

// The output padding that makes a kUpConv double its input's size: stride + 2 padding - kernel.
int64_t output_padding(const Layer& l);

// Positions in `layers` of every layer of `kind`, in order.
std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind);

}  // namespace cg
