// The official discriminators (pytorch-CycleGAN-and-pix2pix, models/networks.py) with identical
// parameter names.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <cstdint>

namespace cg {

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

}  // namespace cg
