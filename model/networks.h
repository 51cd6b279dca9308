// The generators as the official PyTorch code defines them (pytorch-CycleGAN-and-pix2pix and
// contrastive-unpaired-translation, models/networks.py), with identical parameter names, so that
// their state_dicts load by name.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "model/generator-layout.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cg {

enum class Upsampling {
  kSubpixel,    // zero-pad + 2x2 conv + pixel_shuffle: several times faster forward on the CPU
  kTransposed,  // conv_transpose2d: its backward is faster in LibTorch 2.x (training)
};

// The generator of `options`, built from generator_layers(): its children mirror the official
// modules index by index, so official state_dicts load by name. (ResnetGenerator or
// UnetGenerator of pytorch-CycleGAN-and-pix2pix, CUT's ResnetGenerator.)
class GeneratorImpl : public torch::nn::Module {
 public:
  explicit GeneratorImpl(const GeneratorOptions& options = {});

  // The layers' mathematics as functional calls with InstanceNorm as group_norm(x, C), several
  // times faster than the official modules on the CPU: forward() for inference (sub-pixel
  // upsampling), forward_training() for training (the sub-pixel form has a slower backward:
  // ~70 ms against ~40 ms forward + backward for the first upsampling at 256x256, one thread).
  torch::Tensor forward(torch::Tensor x);
  torch::Tensor forward_training(const torch::Tensor& x);
  // forward() (kSubpixel) or forward_training() (kTransposed), also keeping the outputs of the
  // top-level layers at positions `taps` of layers(), in order: for feature distillation.
  torch::Tensor forward_with_features(const torch::Tensor& x, Upsampling up, const std::vector<int64_t>& taps,
                                      std::vector<torch::Tensor>& features);
  // The official modules as they are, for checking the two above.
  torch::Tensor forward_reference(torch::Tensor x);

  // Inference exactly as the G.pt's TorchScript runs (the engine's native runtime): eval mode,
  // the sub-pixel weights computed once here rather than on every forward(), and with
  // `frame_statistics` batch norm normalising each frame by its own statistics (a --bn-mode train
  // model, metadata batch_stats), which forward() cannot express. Call again after changing the
  // weights (values, dtype, device or layout); forward_inference() needs it first.
  void prepare_inference(bool frame_statistics);
  torch::Tensor forward_inference(const torch::Tensor& x);

  const GeneratorOptions& options() const { return options_; }
  const Layers& layers() const { return layers_; }
  // The Sequential whose children are layers(), and its state_dict key (state_dict_prefix()).
  torch::nn::Sequential body{nullptr};
  std::string body_key() const;

 private:
  GeneratorOptions options_;
  Layers layers_;
  // From prepare_inference(): each 3x3 ConvTranspose2d's sub-pixel weight and bias, in the
  // transposed weight's layout.
  std::map<const torch::nn::Module*, std::pair<at::Tensor, at::Tensor>> subpixel_;
  bool frame_statistics_ = false;
  bool prepared_ = false;
};
TORCH_MODULE(Generator);

// The official ResnetBlock: `conv_block` holds block_layers() of its kResidual or kMobileResidual
// layer.
class ResnetBlockImpl : public torch::nn::Module {
 public:
  explicit ResnetBlockImpl(Layers layers);
  torch::Tensor forward(torch::Tensor x);  // the official modules
  const Layers& layers() const { return layers_; }
  torch::nn::Sequential conv_block{nullptr};

 private:
  Layers layers_;
};
TORCH_MODULE(ResnetBlock);

// The official UnetSkipConnectionBlock: `model` holds a kSkip layer's layers; every block but the
// outermost returns its input concatenated with its output.
class UnetBlockImpl : public torch::nn::Module {
 public:
  UnetBlockImpl(Layers layers, bool outermost);
  torch::Tensor forward(torch::Tensor x);  // the official modules
  const Layers& layers() const { return layers_; }
  torch::nn::Sequential model{nullptr};

 private:
  Layers layers_;
  bool outermost_;
};
TORCH_MODULE(UnetBlock);

// CUT's Downsample (kBlurDown) and Upsample (kBlurUp): a fixed depthwise binomial filter, the
// buffer "filt" of their state_dicts.
class BlurImpl : public torch::nn::Module {
 public:
  BlurImpl(int64_t channels, bool up);
  torch::Tensor forward(torch::Tensor x);
  torch::Tensor filt;

 private:
  bool up_;
};
TORCH_MODULE(Blur);

// The blur filters' arithmetic, shared by the module, the fast forward and the G.pt source.
at::Tensor blur_filter(int64_t channels, bool up);
at::Tensor blur_down(const at::Tensor& x, const at::Tensor& filt);
at::Tensor blur_up(const at::Tensor& x, const at::Tensor& filt);

// The official init_weights('normal', 0.02): conv weights ~ N(0, gain), biases 0.
void init_weights(torch::nn::Module& net, double gain = 0.02);

int64_t count_parameters(const torch::nn::Module& net);

// The generator's tensors by state_dict key, as state_dict_layout() lists them: parameters, then
// buffers (running statistics, blur filters), without batch norm's num_batches_tracked counter.
// The values share the module's storage, so copying into them loads weights.
torch::OrderedDict<std::string, at::Tensor> state_tensors(const GeneratorImpl& g);

}  // namespace cg
