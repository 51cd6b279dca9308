#include "networks.h"

#include "fast-ops.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/padding.h>

#include <algorithm>

namespace cg {

namespace nn = torch::nn;

namespace {

// The official ResnetBlock: its conv_block is
// 0 ReflectionPad(1), 1 Conv3x3, 2 IN, 3 ReLU, [Dropout(0.5)], ReflectionPad(1), Conv3x3, IN.
class ResnetBlockImpl : public nn::Module {
 public:
  ResnetBlockImpl(int64_t dim, bool use_dropout) {
    nn::Sequential block;
    block->push_back(nn::ReflectionPad2d(1));
    block->push_back(nn::Conv2d(nn::Conv2dOptions(dim, dim, 3).bias(true)));
    block->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(dim)));
    block->push_back(nn::ReLU(true));
    if (use_dropout) block->push_back(nn::Dropout(0.5));
    block->push_back(nn::ReflectionPad2d(1));
    block->push_back(nn::Conv2d(nn::Conv2dOptions(dim, dim, 3).bias(true)));
    block->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(dim)));
    conv_block = register_module("conv_block", block);
    conv1 = conv_block[1]->as<nn::Conv2dImpl>();
    conv2 = conv_block[use_dropout ? 6 : 5]->as<nn::Conv2dImpl>();
    use_dropout_ = use_dropout;
  }

  torch::Tensor forward(torch::Tensor x) { return x + conv_block->forward(x); }

  torch::Tensor forward_fast(const torch::Tensor& x) {
    auto y = torch::relu(instance_norm(torch::conv2d(torch::reflection_pad2d(x, {1, 1, 1, 1}),
                                                     conv1->weight, conv1->bias)));
    if (use_dropout_) y = torch::dropout(y, 0.5, is_training());
    y = instance_norm(torch::conv2d(torch::reflection_pad2d(y, {1, 1, 1, 1}), conv2->weight, conv2->bias));
    return x + y;
  }

  nn::Sequential conv_block{nullptr};

 private:
  nn::Conv2dImpl* conv1 = nullptr;
  nn::Conv2dImpl* conv2 = nullptr;
  bool use_dropout_ = false;
};
TORCH_MODULE(ResnetBlock);

torch::Tensor conv_in_relu(const torch::Tensor& x, const nn::Conv2dImpl& c, int64_t stride, int64_t pad) {
  return torch::relu(instance_norm(torch::conv2d(x, c.weight, c.bias, stride, pad)));
}

}  // namespace

ResnetGeneratorImpl::ResnetGeneratorImpl(const GeneratorOptions& o) : options_(o) {
  TORCH_CHECK(o.ngf > 0 && o.n_blocks >= 0 && o.input_nc > 0 && o.output_nc > 0,
              "invalid generator options");
  nn::Sequential seq;
  seq->push_back(nn::ReflectionPad2d(3));
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.input_nc, o.ngf, 7).bias(true)));
  seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(o.ngf)));
  seq->push_back(nn::ReLU(true));
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t mult = int64_t{1} << i;
    seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ngf * mult, o.ngf * mult * 2, 3).stride(2).padding(1).bias(true)));
    seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(o.ngf * mult * 2)));
    seq->push_back(nn::ReLU(true));
  }
  for (int64_t i = 0; i < o.n_blocks; ++i) seq->push_back(ResnetBlock(o.ngf * 4, o.use_dropout));
  for (int64_t i = 0; i < 2; ++i) {
    const int64_t mult = int64_t{4} >> i;
    seq->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(o.ngf * mult, o.ngf * mult / 2, 3)
                                           .stride(2).padding(1).output_padding(1).bias(true)));
    seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(o.ngf * mult / 2)));
    seq->push_back(nn::ReLU(true));
  }
  seq->push_back(nn::ReflectionPad2d(3));
  seq->push_back(nn::Conv2d(nn::Conv2dOptions(o.ngf, o.output_nc, 7).bias(true)));
  seq->push_back(nn::Tanh());
  model = register_module("model", seq);
}

torch::Tensor ResnetGeneratorImpl::forward(torch::Tensor x) {
  x = torch::reflection_pad2d(x, {3, 3, 3, 3});
  x = conv_in_relu(x, *model[1]->as<nn::Conv2dImpl>(), 1, 0);
  x = conv_in_relu(x, *model[4]->as<nn::Conv2dImpl>(), 2, 1);
  x = conv_in_relu(x, *model[7]->as<nn::Conv2dImpl>(), 2, 1);
  for (int64_t i = 0; i < options_.n_blocks; ++i)
    x = model[block_index(i)]->as<ResnetBlockImpl>()->forward_fast(x);
  for (int64_t i = 0; i < 2; ++i) {
    auto* up = model[up_index(i)]->as<nn::ConvTranspose2dImpl>();
    x = torch::relu(instance_norm(subpixel_upsample(x, subpixel_weight(up->weight), subpixel_bias(up->bias))));
  }
  auto* last = model[final_conv_index()]->as<nn::Conv2dImpl>();
  return torch::tanh(torch::conv2d(torch::reflection_pad2d(x, {3, 3, 3, 3}), last->weight, last->bias));
}

torch::Tensor ResnetGeneratorImpl::forward_reference(torch::Tensor x) { return model->forward(x); }

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

void init_weights(torch::nn::Module& net, double gain) {
  torch::NoGradGuard no_grad;
  for (auto& m : net.modules(/*include_self=*/true)) {
    torch::Tensor w, b;
    if (auto* c = m->as<nn::Conv2dImpl>()) {
      w = c->weight;
      b = c->bias;
    } else if (auto* t = m->as<nn::ConvTranspose2dImpl>()) {
      w = t->weight;
      b = t->bias;
    } else {
      continue;
    }
    w.normal_(0.0, gain);
    if (b.defined()) b.zero_();
  }
}

int64_t count_parameters(const torch::nn::Module& net) {
  int64_t n = 0;
  for (const auto& p : net.parameters()) n += p.numel();
  return n;
}

}  // namespace cg
