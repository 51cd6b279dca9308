// The official discriminators (pytorch-CycleGAN-and-pix2pix, models/networks.py) with identical
// parameter names: NLayerDiscriminator (keys model.N.*) and PixelDiscriminator (keys net.N.*).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace cg {

struct DiscriminatorOptions {
  // --netD: basic and n_layers are the n-layer PatchGAN (basic = 3 layers, 70x70), pixel the 1x1 one.
  enum class Kind { kNLayer, kPixel };
  // --norm: instance = InstanceNorm2d without affine or running statistics; batch = BatchNorm2d
  // with both; none = an Identity at the norm's index, so the later indices stay the official ones.
  enum class Norm { kInstance, kBatch, kNone };

  int64_t input_nc = 3;
  int64_t ndf = 64;
  int64_t n_layers = 3;  // n-layer only; "basic" = 70x70 PatchGAN
  Kind kind = Kind::kNLayer;
  Norm norm = Norm::kInstance;
};

// The layers of each official discriminator. Convolutions followed by a norm layer have a bias only
// with instance norm, as the official use_bias rule gives.
torch::nn::Sequential n_layer_discriminator_layers(const DiscriminatorOptions& o);
torch::nn::Sequential pixel_discriminator_layers(const DiscriminatorOptions& o);

// NLayerDiscriminator (PatchGAN): no sigmoid, a norm layer after every conv but the first and last.
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

// PixelDiscriminator (1x1 PatchGAN): judges every pixel on its own; output has the input's size.
class PixelDiscriminatorImpl : public torch::nn::Module {
 public:
  explicit PixelDiscriminatorImpl(const DiscriminatorOptions& options = {});
  torch::Tensor forward(torch::Tensor x);
  const DiscriminatorOptions& options() const { return options_; }
  torch::nn::Sequential net{nullptr};

 private:
  DiscriminatorOptions options_;
};
TORCH_MODULE(PixelDiscriminator);

// Either discriminator, as options.kind says, with that discriminator's own parameter names (no
// extra prefix), so its state is interchangeable with NLayerDiscriminator's or
// PixelDiscriminator's and with the official state_dict.
class DiscriminatorImpl : public torch::nn::Module {
 public:
  explicit DiscriminatorImpl(const DiscriminatorOptions& options = {});
  torch::Tensor forward(torch::Tensor x);
  const DiscriminatorOptions& options() const { return options_; }

 private:
  DiscriminatorOptions options_;
  torch::nn::Sequential layers_{nullptr};
};
TORCH_MODULE(Discriminator);

}  // namespace cg
