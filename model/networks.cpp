#include "model/networks.h"

#include "model/fast-ops.h"

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

nn::Sequential build(const Layers& layers, bool use_dropout) {
  nn::Sequential seq;
  for (const Layer& l : layers) {
    switch (l.kind) {
      case LayerKind::kReflectPad: seq->push_back(nn::ReflectionPad2d(l.padding)); break;
      case LayerKind::kConv:
        seq->push_back(
            nn::Conv2d(nn::Conv2dOptions(l.in, l.out, l.kernel).stride(l.stride).padding(l.padding).groups(l.groups)));
        break;
      case LayerKind::kNorm: seq->push_back(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(l.out))); break;
      case LayerKind::kRelu: seq->push_back(nn::ReLU(true)); break;
      case LayerKind::kDropout: seq->push_back(nn::Dropout(0.5)); break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: seq->push_back(ResnetBlock(block_layers(l, use_dropout))); break;
      case LayerKind::kUpConv:
        seq->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(l.in, l.out, l.kernel)
                                               .stride(l.stride)
                                               .padding(l.padding)
                                               .output_padding(l.stride - 1)));
        break;
      case LayerKind::kTanh: seq->push_back(nn::Tanh()); break;
    }
  }
  return seq;
}

// reflection_pad2d's CUDA backward accumulates with atomics; when the run asked for deterministic
// algorithms (exact resume on CUDA) the copy-only formulation gives the same values.
at::Tensor pad(const at::Tensor& x, int64_t p) {
  if (x.is_cuda() && at::globalContext().deterministicAlgorithms()) return reflect_pad(x, p);
  return at::reflection_pad2d(x, {p, p, p, p});
}

// Outputs of chosen top-level layers, for feature distillation.
struct Taps {
  const std::vector<int64_t>& at;
  std::vector<at::Tensor>& out;
};

// The layers' mathematics as functional calls on the module's weights (see forward()).
at::Tensor run(const Layers& layers, nn::Sequential seq, at::Tensor x, Upsampling up, bool training,
               Taps* taps = nullptr) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    switch (l.kind) {
      case LayerKind::kReflectPad: x = pad(x, l.padding); break;
      case LayerKind::kConv: {
        const auto* c = seq[i]->as<nn::Conv2dImpl>();
        x = at::conv2d(x, c->weight, c->bias, l.stride, l.padding, /*dilation=*/1, l.groups);
        break;
      }
      case LayerKind::kNorm: x = instance_norm(x); break;
      case LayerKind::kRelu: x = at::relu(x); break;
      case LayerKind::kDropout: x = at::dropout(x, 0.5, training); break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: {
        const auto* b = seq[i]->as<ResnetBlockImpl>();
        x = x + run(b->layers(), b->conv_block, x, up, training);
        break;
      }
      case LayerKind::kUpConv: {
        const auto* t = seq[i]->as<nn::ConvTranspose2dImpl>();
        x = up == Upsampling::kSubpixel
                ? subpixel_upsample(x, subpixel_weight(t->weight), subpixel_bias(t->bias))
                : at::conv_transpose2d(x, t->weight, t->bias, l.stride, l.padding, l.stride - 1);
        break;
      }
      case LayerKind::kTanh: x = at::tanh(x); break;
    }
    if (taps && std::find(taps->at.begin(), taps->at.end(), static_cast<int64_t>(i)) != taps->at.end())
      taps->out.push_back(x);
  }
  return x;
}

}  // namespace

ResnetBlockImpl::ResnetBlockImpl(Layers layers) : layers_(std::move(layers)) {
  conv_block = register_module("conv_block", build(layers_, false));
}

torch::Tensor ResnetBlockImpl::forward(torch::Tensor x) { return x + conv_block->forward(x); }

ResnetGeneratorImpl::ResnetGeneratorImpl(const GeneratorOptions& o) : options_(o) {
  TORCH_CHECK(o.ngf > 0 && o.n_blocks >= 0 && o.input_nc > 0 && o.output_nc > 0, "invalid generator options");
  layers_ = generator_layers(o);
  model = register_module("model", build(layers_, o.use_dropout));
}

torch::Tensor ResnetGeneratorImpl::forward(torch::Tensor x) {
  return run(layers_, model, std::move(x), Upsampling::kSubpixel, is_training());
}

torch::Tensor ResnetGeneratorImpl::forward_training(const torch::Tensor& x) {
  return run(layers_, model, x, Upsampling::kTransposed, is_training());
}

torch::Tensor ResnetGeneratorImpl::forward_with_features(const torch::Tensor& x, Upsampling up,
                                                         const std::vector<int64_t>& taps,
                                                         std::vector<torch::Tensor>& features) {
  Taps t{taps, features};
  return run(layers_, model, x, up, is_training(), &t);
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
