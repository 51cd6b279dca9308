#include "model/networks.h"

#include "model/direct-conv.h"
#include "model/fast-ops.h"
#include "model/fused-norm.h"

#include <torch/nn/functional/activation.h>
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/any.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/padding.h>
#include <torch/nn/modules/pixelshuffle.h>
#include <torch/nn/modules/upsampling.h>
#include <torch/torch.h>

#include <algorithm>

namespace cg {

namespace nn = torch::nn;

namespace {

nn::AnyModule norm_module(const Layer& l) {
  switch (l.norm) {
    case Norm::kInstance: return nn::AnyModule(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(l.out)));
    case Norm::kInstanceAffine: return nn::AnyModule(nn::InstanceNorm2d(nn::InstanceNorm2dOptions(l.out).affine(true)));
    case Norm::kBatch: return nn::AnyModule(nn::BatchNorm2d(nn::BatchNorm2dOptions(l.out)));
    case Norm::kNone: break;
  }
  return nn::AnyModule(nn::Identity());
}

nn::Sequential build(const Layers& layers, bool use_dropout) {
  nn::Sequential seq;
  for (const Layer& l : layers) {
    switch (l.kind) {
      case LayerKind::kReflectPad: seq->push_back(nn::ReflectionPad2d(l.padding)); break;
      case LayerKind::kConv:
        seq->push_back(nn::Conv2d(nn::Conv2dOptions(l.in, l.out, l.kernel)
                                      .stride(l.stride)
                                      .padding(l.padding)
                                      .groups(l.groups)
                                      .bias(l.bias)));
        break;
      case LayerKind::kNorm: seq->push_back(norm_module(l)); break;
      case LayerKind::kRelu: seq->push_back(nn::ReLU(true)); break;
      case LayerKind::kLeakyRelu:
        seq->push_back(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(0.2).inplace(true)));
        break;
      case LayerKind::kDropout: seq->push_back(nn::Dropout(0.5)); break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: seq->push_back(ResnetBlock(block_layers(l, use_dropout))); break;
      case LayerKind::kSkip: seq->push_back(UnetBlock(*l.inner, false)); break;
      case LayerKind::kUpConv:
        seq->push_back(nn::ConvTranspose2d(nn::ConvTranspose2dOptions(l.in, l.out, l.kernel)
                                               .stride(l.stride)
                                               .padding(l.padding)
                                               .output_padding(output_padding(l))
                                               .bias(l.bias)));
        break;
      case LayerKind::kTanh: seq->push_back(nn::Tanh()); break;
      case LayerKind::kBlurDown:
      case LayerKind::kBlurUp: seq->push_back(Blur(l.out, l.kind == LayerKind::kBlurUp)); break;
      case LayerKind::kNearestUp:
        seq->push_back(
            nn::Upsample(nn::UpsampleOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
        break;
      case LayerKind::kSpaceToDepth: seq->push_back(nn::PixelUnshuffle(l.stride)); break;
      case LayerKind::kDepthToSpace: seq->push_back(nn::PixelShuffle(l.stride)); break;
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

// How run() computes: the upsampling's form, training or eval, and for inference the choices of
// GeneratorImpl::prepare_inference().
struct Mode {
  Upsampling up;
  bool training;
  bool frame_statistics = false;
  const std::map<const nn::Module*, std::pair<at::Tensor, at::Tensor>>* subpixel = nullptr;
  // forward_inference(): the prepared weights are there, and the CPU kernels of ours may stand
  // in for layers (no autograd, no feature taps).
  bool inference() const { return subpixel != nullptr; }
};

at::Tensor norm(const Layer& l, const std::shared_ptr<nn::Module>& m, const at::Tensor& x, const Mode& mode) {
  const bool training = mode.training;
  switch (l.norm) {
    case Norm::kInstance: return instance_norm(x);
    case Norm::kInstanceAffine: {
      const auto* n = m->as<nn::InstanceNorm2dImpl>();
      return instance_norm(x) * n->weight.view({-1, 1, 1}) + n->bias.view({-1, 1, 1});
    }
    case Norm::kBatch: {
      auto* n = m->as<nn::BatchNorm2dImpl>();
      // Each frame's own statistics: the instance norm with affine parameters that the G.pt's
      // TorchScript writes for it, operation for operation (generator-script.cpp).
      if (!training && mode.frame_statistics)
        return instance_norm(x) * n->weight.view({-1, 1, 1}) + n->bias.view({-1, 1, 1});
      // As the official module: batch statistics (and running-statistics updates) in training.
      if (training && n->num_batches_tracked.defined()) n->num_batches_tracked.add_(1);
      return at::batch_norm(x, n->weight, n->bias, n->running_mean, n->running_var, training, 0.1, 1e-5,
                            at::globalContext().userEnabledCuDNN());
    }
    case Norm::kNone: break;
  }
  return x;
}

// Outputs of chosen top-level layers, for feature distillation.
struct Taps {
  const std::vector<int64_t>& at;
  std::vector<at::Tensor>& out;
};

// The layers' mathematics as functional calls on the module's weights (see forward()).
at::Tensor run(const Layers& layers, nn::Sequential seq, at::Tensor x, const Mode& mode, Taps* taps = nullptr) {
  const bool training = mode.training;
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    switch (l.kind) {
      case LayerKind::kReflectPad: x = pad(x, l.padding); break;
      case LayerKind::kConv: {
        const auto* c = seq[i]->as<nn::Conv2dImpl>();
        // The output layer's few channels at full resolution: oneDNN's weakest case (direct-conv.h).
        if (mode.inference() && direct_conv_applies(x, c->weight, l.stride, l.padding, l.groups))
          x = direct_conv(x, c->weight, c->bias);
        else
          x = at::conv2d(x, c->weight, c->bias, l.stride, l.padding, /*dilation=*/1, l.groups);
        break;
      }
      case LayerKind::kNorm: {
        // Inference: instance norm with the ReLU and reflection padding that follow it in one pass
        // over memory (fused-norm.h); the layers it covers are skipped.
        if (mode.inference() && !taps && l.norm == Norm::kInstance) {
          const bool relu = i + 1 < layers.size() && layers[i + 1].kind == LayerKind::kRelu;
          const size_t next = i + 1 + relu;
          const bool padded = next < layers.size() && layers[next].kind == LayerKind::kReflectPad;
          const int64_t p = padded ? layers[next].padding : 0;
          if (fused_norm_applies(x, p)) {
            x = fused_norm_relu_pad(x, relu, p);
            i = next - (padded ? 0 : 1);
            break;
          }
        }
        x = norm(l, seq->ptr(i), x, mode);
        break;
      }
      case LayerKind::kRelu: x = at::relu(x); break;
      case LayerKind::kLeakyRelu: x = at::leaky_relu(x, 0.2); break;
      case LayerKind::kDropout: x = at::dropout(x, 0.5, training); break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: {
        const auto* b = seq[i]->as<ResnetBlockImpl>();
        x = x + run(b->layers(), b->conv_block, x, mode);
        break;
      }
      case LayerKind::kSkip: {
        const auto* b = seq[i]->as<UnetBlockImpl>();
        x = at::cat({x, run(b->layers(), b->model, x, mode)}, 1);
        break;
      }
      case LayerKind::kUpConv: {
        const auto* t = seq[i]->as<nn::ConvTranspose2dImpl>();
        if (mode.subpixel && l.kernel == 3) {
          const auto& [w, b] = mode.subpixel->at(t);
          x = subpixel_upsample(x, w, b);
          break;
        }
        x = mode.up == Upsampling::kSubpixel && l.kernel == 3
                ? subpixel_upsample(x, subpixel_weight(t->weight),
                                    t->bias.defined() ? subpixel_bias(t->bias) : at::Tensor())
                : at::conv_transpose2d(x, t->weight, t->bias, l.stride, l.padding, output_padding(l));
        break;
      }
      case LayerKind::kTanh: x = at::tanh(x); break;
      case LayerKind::kBlurDown: x = blur_down(x, seq[i]->as<BlurImpl>()->filt); break;
      case LayerKind::kBlurUp: x = blur_up(x, seq[i]->as<BlurImpl>()->filt); break;
      case LayerKind::kNearestUp: x = at::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2}); break;
      case LayerKind::kSpaceToDepth: x = at::pixel_unshuffle(x, l.stride); break;
      case LayerKind::kDepthToSpace: x = at::pixel_shuffle(x, l.stride); break;
    }
    if (taps && std::find(taps->at.begin(), taps->at.end(), static_cast<int64_t>(i)) != taps->at.end())
      taps->out.push_back(x);
  }
  return x;
}

}  // namespace

at::Tensor blur_filter(int64_t channels, bool up) {
  // Binomial filters: [1 2 1] down, [1 3 3 1] up; the up filter sums to stride^2 = 4 so that
  // spreading each input pixel over four outputs keeps the mean.
  const auto taps = up ? torch::tensor({1.0f, 3.0f, 3.0f, 1.0f}) : torch::tensor({1.0f, 2.0f, 1.0f});
  auto f = at::outer(taps, taps);
  f = f / f.sum() * (up ? 4.0 : 1.0);
  return f.expand({channels, 1, f.size(0), f.size(1)}).contiguous();
}

at::Tensor blur_down(const at::Tensor& x, const at::Tensor& filt) {
  return at::conv2d(pad(x, 1), filt, at::Tensor(), at::IntArrayRef{2, 2}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1},
                    x.size(1));
}

at::Tensor blur_up(const at::Tensor& x, const at::Tensor& filt) {
  // CUT's Upsample: transposed blur with padding 2 on a replicate-padded input gives 2H + 2
  // rows; dropping the first and the last leaves 2H.
  auto y = at::conv_transpose2d(at::replication_pad2d(x, {1, 1, 1, 1}), filt, at::Tensor(), at::IntArrayRef{2, 2},
                                at::IntArrayRef{2, 2}, at::IntArrayRef{0, 0}, x.size(1));
  return y.narrow(2, 1, y.size(2) - 2).narrow(3, 1, y.size(3) - 2);
}

BlurImpl::BlurImpl(int64_t channels, bool up) : up_(up) { filt = register_buffer("filt", blur_filter(channels, up)); }

torch::Tensor BlurImpl::forward(torch::Tensor x) { return up_ ? blur_up(x, filt) : blur_down(x, filt); }

ResnetBlockImpl::ResnetBlockImpl(Layers layers) : layers_(std::move(layers)) {
  conv_block = register_module("conv_block", build(layers_, false));
}

torch::Tensor ResnetBlockImpl::forward(torch::Tensor x) { return x + conv_block->forward(x); }

UnetBlockImpl::UnetBlockImpl(Layers layers, bool outermost) : layers_(std::move(layers)), outermost_(outermost) {
  model = register_module("model", build(layers_, false));
}

torch::Tensor UnetBlockImpl::forward(torch::Tensor x) {
  auto y = model->forward(x);
  return outermost_ ? y : at::cat({x, y}, 1);
}

GeneratorImpl::GeneratorImpl(const GeneratorOptions& o) : options_(o) {
  TORCH_CHECK(o.ngf > 0 && o.n_blocks >= 0 && o.input_nc > 0 && o.output_nc > 0, "invalid generator options");
  TORCH_CHECK(o.family != Family::kUnet || (o.unet_downs >= 5 && o.unet_downs <= 12), "invalid U-Net depth");
  TORCH_CHECK(valid_space_to_depth(o.space_to_depth) && (o.space_to_depth == 1 || o.family == Family::kResnet),
              "invalid space_to_depth ", o.space_to_depth, " (1, 2 or 4, and 1 for a U-Net)");
  layers_ = generator_layers(o);
  if (o.family == Family::kUnet) {
    body = register_module("model", UnetBlock(layers_, true))->model;
  } else {
    body = register_module("model", build(layers_, o.use_dropout));
  }
}

std::string GeneratorImpl::body_key() const { return state_dict_prefix(options_); }

torch::Tensor GeneratorImpl::forward(torch::Tensor x) {
  return run(layers_, body, std::move(x), {Upsampling::kSubpixel, is_training()});
}

torch::Tensor GeneratorImpl::forward_training(const torch::Tensor& x) {
  return run(layers_, body, x, {Upsampling::kTransposed, is_training()});
}

void GeneratorImpl::prepare_inference(bool frame_statistics) {
  eval();
  torch::NoGradGuard no_grad;
  subpixel_.clear();
  for (const auto& m : modules(/*include_self=*/false)) {
    const auto* t = m->as<nn::ConvTranspose2dImpl>();
    if (!t || t->weight.size(2) != 3) continue;
    const auto layout = t->weight.suggest_memory_format();
    subpixel_[t] = {subpixel_weight(t->weight).contiguous(layout),
                    t->bias.defined() ? subpixel_bias(t->bias) : at::Tensor()};
  }
  frame_statistics_ = frame_statistics;
  prepared_ = true;
}

torch::Tensor GeneratorImpl::forward_inference(const torch::Tensor& x) {
  TORCH_CHECK(prepared_, "forward_inference() before prepare_inference()");
  return run(layers_, body, x, {Upsampling::kSubpixel, false, frame_statistics_, &subpixel_});
}

torch::Tensor GeneratorImpl::forward_with_features(const torch::Tensor& x, Upsampling up,
                                                   const std::vector<int64_t>& taps,
                                                   std::vector<torch::Tensor>& features) {
  Taps t{taps, features};
  return run(layers_, body, x, {up, is_training()}, &t);
}

torch::Tensor GeneratorImpl::forward_reference(torch::Tensor x) { return body->forward(x); }

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

torch::OrderedDict<std::string, at::Tensor> state_tensors(const GeneratorImpl& g) {
  auto tensors = g.named_parameters();
  for (const auto& b : g.named_buffers())
    if (b.key().find("num_batches_tracked") == std::string::npos) tensors.insert(b.key(), b.value());
  return tensors;
}

int64_t count_parameters(const torch::nn::Module& net) {
  int64_t n = 0;
  for (const auto& p : net.parameters()) n += p.numel();
  return n;
}

}  // namespace cg
