#include "model/discriminators.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>

namespace cg {

namespace nn = torch::nn;
using Norm = DiscriminatorOptions::Norm;

namespace {

nn::LeakyReLU lrelu() { return nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)); }

// Official use_bias: only instance norm (no affine) leaves the preceding conv without an offset.
bool conv_bias(const DiscriminatorOptions& o) { return o.norm == Norm::kInstance; }

void push_norm(nn::Sequential& seq, const DiscriminatorOptions& o, int64_t channels) {
  switch (o.norm) {
    case Norm::kInstance: seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(channels))); break;
    case Norm::kBatch: seq->push_back(nn::BatchNorm2d(nn::BatchNorm2dOptions(channels))); break;
    case Norm::kNone: seq->push_back(nn::Identity()); break;
  }
}

void check(const DiscriminatorOptions& o) {
  TORCH_CHECK(o.ndf > 0 && o.n_layers >= 1 && o.input_nc > 0, "invalid discriminator options");
}

}  // namespace

nn::Sequential n_layer_discriminator_layers(const DiscriminatorOptions& o) {
  check(o);
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.input_nc, o.ndf, 4).stride(2).padding(1)));
  seq->push_back(lrelu());
  int64_t mult = 1;
  for (int64_t n = 1; n <= o.n_layers; ++n) {
    const int64_t prev = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    const int64_t stride = n < o.n_layers ? 2 : 1;
    seq->push_back(
        nn::Conv2d(nn::Conv2dOptions(o.ndf * prev, o.ndf * mult, 4).stride(stride).padding(1).bias(conv_bias(o))));
    push_norm(seq, o, o.ndf * mult);
    seq->push_back(lrelu());
  }
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ndf * mult, 1, 4).stride(1).padding(1)));
  return seq;
}

nn::Sequential pixel_discriminator_layers(const DiscriminatorOptions& o) {
  check(o);
  nn::Sequential seq;
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.input_nc, o.ndf, 1)));
  seq->push_back(lrelu());
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ndf, o.ndf * 2, 1).bias(conv_bias(o))));
  push_norm(seq, o, o.ndf * 2);
  seq->push_back(lrelu());
  // The official output conv follows the same bias rule although no norm comes after it.
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ndf * 2, 1, 1).bias(conv_bias(o))));
  return seq;
}

NLayerDiscriminatorImpl::NLayerDiscriminatorImpl(const DiscriminatorOptions& o) : options_(o) {
  model = register_module("model", n_layer_discriminator_layers(o));
}

torch::Tensor NLayerDiscriminatorImpl::forward(torch::Tensor x) { return model->forward(x); }

PixelDiscriminatorImpl::PixelDiscriminatorImpl(const DiscriminatorOptions& o) : options_(o) {
  net = register_module("net", pixel_discriminator_layers(o));
}

torch::Tensor PixelDiscriminatorImpl::forward(torch::Tensor x) { return net->forward(x); }

DiscriminatorImpl::DiscriminatorImpl(const DiscriminatorOptions& o) : options_(o) {
  // The official attribute names: NLayerDiscriminator.model, PixelDiscriminator.net.
  if (o.kind == DiscriminatorOptions::Kind::kPixel)
    layers_ = register_module("net", pixel_discriminator_layers(o));
  else
    layers_ = register_module("model", n_layer_discriminator_layers(o));
}

torch::Tensor DiscriminatorImpl::forward(torch::Tensor x) { return layers_->forward(x); }

}  // namespace cg
