// The CycleGAN networks of Zhu et al. 2017 as the official PyTorch code defines them
// (pytorch-CycleGAN-and-pix2pix, models/networks.py), with identical parameter names, so that
// official state_dicts load by name.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <string>

namespace cg {

struct GeneratorOptions {
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  int64_t ngf = 64;
  int64_t n_blocks = 9;       // resnet_9blocks; 6 for resnet_6blocks
  bool use_dropout = false;   // the cycle_gan model trains without dropout
};

// ResnetGenerator. Its children mirror the official nn.Sequential index by index:
// model.0 ReflectionPad(3), model.1 Conv7x7, ..., model.{10..} ResnetBlocks, ... Tanh.
class ResnetGeneratorImpl : public torch::nn::Module {
 public:
  explicit ResnetGeneratorImpl(const GeneratorOptions& options = {});

  // With fast formulations (the default) the transposed convolutions run as
  // zero-pad + 2x2 conv + pixel_shuffle and InstanceNorm as group_norm(x, C): the same
  // mathematics, several times faster on CPU. With fast=false the official layers run as they are.
  torch::Tensor forward(torch::Tensor x);
  torch::Tensor forward_reference(torch::Tensor x);

  const GeneratorOptions& options() const { return options_; }
  torch::nn::Sequential model{nullptr};

  // Positions in `model` of the layers with weights, in the official numbering.
  int64_t block_index(int64_t i) const { return 10 + i; }
  int64_t up_index(int64_t i) const { return 10 + options_.n_blocks + 3 * i; }
  int64_t final_conv_index() const { return 17 + options_.n_blocks; }

 private:
  GeneratorOptions options_;
};
TORCH_MODULE(ResnetGenerator);

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
