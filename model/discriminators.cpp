#include "model/discriminators.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>

#include <algorithm>

namespace cg {

namespace nn = torch::nn;

NLayerDiscriminatorImpl::NLayerDiscriminatorImpl(const DiscriminatorOptions& o) : options_(o) {
  TORCH_CHECK(o.ndf > 0 && o.n_layers >= 1 && o.input_nc > 0, "invalid discriminator options");
  auto lrelu = [] { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)); };
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.input_nc, o.ndf, 4).stride(2).padding(1)));
  seq->push_back(lrelu());
  int64_t mult = 1;
  for (int64_t n = 1; n <= o.n_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    const int64_t stride = n < o.n_layers ? 2 : 1;
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ndf * prev, o.ndf * mult, 4).stride(stride).padding(1).bias(true)));
    seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(o.ndf * mult)));
    seq->push_back(lrelu());
  }
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ndf * mult, 1, 4).stride(1).padding(1)));
  model = register_module("model", seq);
}

torch::Tensor NLayerDiscriminatorImpl::forward(torch::Tensor x) { return model->forward(x); }

}  // namespace cg
