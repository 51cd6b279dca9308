// The CycleGAN networks of Zhu et al. 2017 as the official PyTorch code defines them
// (pytorch-CycleGAN-and-pix2pix, models/networks.py), with identical parameter names, so that
// official state_dicts load by name.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "model/generator-layout.h"

#include <cstdint>
#include <string>
#include <vector>

namespace cg {

enum class Upsampling {
  kSubpixel,    // zero-pad + 2x2 conv + pixel_shuffle: several times faster forward on the CPU
  kTransposed,  // conv_transpose2d: its backward is faster in LibTorch 2.x (training)
};

// ResnetGenerator, built from generator_layers(): its children mirror the official nn.Sequential
// index by index, so official state_dicts load by name.
class ResnetGeneratorImpl : public torch::nn::Module {
 public:
  explicit ResnetGeneratorImpl(const GeneratorOptions& options = {});

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

  const GeneratorOptions& options() const { return options_; }
  const Layers& layers() const { return layers_; }
  torch::nn::Sequential model{nullptr};

 private:
  GeneratorOptions options_;
  Layers layers_;
};
TORCH_MODULE(ResnetGenerator);

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

struct DiscriminatorOptions {
  int64_t input_nc = 3;
  int64_t ndf = 64;
  int64_t n_layers = 3;  // "basic" = 70x70 PatchGAN
};

// NLayerDiscriminator (PatchGAN): no sigmoid, InstanceNorm on every conv but the first and last.
class NLayerDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit NLayerDiscriminatorImpl(const DiscriminatorOptions& options = {});
  torch::Tensor forward(torch::Tensor x);
  const DiscriminatorOptions& options() const { return options_; }
  torch::nn::Sequential model{nullptr};

 private:
  DiscriminatorOptions options_;
};
TORCH_MODULE(NLayerDiscriminator);

// The official init_weights('normal', 0.02): conv weights ~ N(0, gain), biases 0.
void init_weights(torch::nn::Module& net, double gain = 0.02);

int64_t count_parameters(const torch::nn::Module& net);

}  // namespace cg
