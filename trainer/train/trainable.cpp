#include "trainer/train/trainable.h"

#include "common/error.h"
#include "trainer/data/preprocess.h"
#include "trainer/train/fused-adam.h"
#include "trainer/train/options.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/optim/adam.h>

#include <algorithm>

namespace cg {

Losses DeviceLosses::read() const {
  const at::Tensor host = values.to(at::kCPU).contiguous();
  return {names, std::vector<double>(host.data_ptr<double>(), host.data_ptr<double>() + host.numel())};
}

DeviceLosses& DeviceLosses::operator+=(const DeviceLosses& other) {
  values = values.defined() ? values + other.values : other.values;
  if (names.empty()) names = other.names;
  return *this;
}

// Every optimizer of these models is an Adam with one learning rate, as the official ones.
void TrainableModel::set_lr(double lr) {
  for (const auto& [name, opt] : optimizers())
    for (auto& group : opt->param_groups()) static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr);
}

double TrainableModel::lr() {
  return static_cast<const torch::optim::AdamOptions&>(optimizers().front().second->param_groups()[0].options()).lr();
}

GeneratorOptions generator_options(const TrainOptions& o) {
  GeneratorOptions g;
  g.ngf = o.ngf;
  g.use_dropout = !o.no_dropout;
  g.norm = parse_norm(o.norm);
  if (o.netG == "unet_256" || o.netG == "unet_128") {
    g.family = Family::kUnet;
    g.unet_downs = o.netG == "unet_256" ? 8 : 7;
  } else {
    g.n_blocks = o.n_blocks();  // throws for an unknown --netG
  }
  check_crop(o, size_rule(g), "--netG " + o.netG);
  return g;
}

void check_crop(const TrainOptions& o, const SizeRule& rule, const std::string& who) {
  if (crops(parse_preprocess_mode(o.preprocess)) && !rule.fits(o.crop_size))
    throw Error(ErrorKind::kUsage, who + " takes image sides that are " + rule.describe() + "; --crop-size " +
                                       std::to_string(o.crop_size) + " is not");
}

DiscriminatorOptions discriminator_options(const TrainOptions& o) {
  DiscriminatorOptions d;
  d.ndf = o.ndf;
  d.n_layers = o.netD == "basic" ? 3 : o.n_layers_D;
  d.kind = o.netD == "pixel" ? DiscriminatorOptions::Kind::kPixel : DiscriminatorOptions::Kind::kNLayer;
  d.norm = o.norm == "batch"  ? DiscriminatorOptions::Norm::kBatch
           : o.norm == "none" ? DiscriminatorOptions::Norm::kNone
                              : DiscriminatorOptions::Norm::kInstance;
  return d;
}

void set_requires_grad(torch::nn::Module& net, bool on) {
  for (auto& p : net.parameters()) p.set_requires_grad(on);
}

// One pass in module order, as the official net.apply: the draws of convolutions and batch norms
// interleave as there, so seeded initial weights match.
void initialise(torch::nn::Module& net, const std::string& type, double gain) {
  torch::NoGradGuard no_grad;
  for (auto& m : net.modules(/*include_self=*/true)) {
    torch::Tensor w, b;
    if (auto* bn = m->as<torch::nn::BatchNorm2dImpl>()) {
      bn->weight.normal_(1.0, gain);
      bn->bias.zero_();
      continue;
    }
    if (auto* c = m->as<torch::nn::Conv2dImpl>()) {
      w = c->weight;
      b = c->bias;
    } else if (auto* t = m->as<torch::nn::ConvTranspose2dImpl>()) {
      w = t->weight;
      b = t->bias;
    } else {
      continue;
    }
    if (type == "normal") {
      w.normal_(0.0, gain);
    } else if (type == "xavier") {
      torch::nn::init::xavier_normal_(w, gain);
    } else if (type == "kaiming") {
      torch::nn::init::kaiming_normal_(w, 0.0, torch::kFanIn);
    } else if (type == "orthogonal") {
      torch::nn::init::orthogonal_(w, gain);
    } else {
      throw Error(ErrorKind::kUsage,
                  "--init-type " + type + " is not supported (normal, xavier, kaiming or orthogonal)");
    }
    if (b.defined()) b.zero_();
  }
}

std::unique_ptr<torch::optim::Adam> make_adam(std::vector<at::Tensor> params, double lr, double beta1,
                                              const RunMode& mode) {
  const auto options = torch::optim::AdamOptions(lr).betas({beta1, 0.999});
  if (mode.fused_adam) return std::make_unique<FusedAdam>(std::move(params), options);
  return std::make_unique<torch::optim::Adam>(std::move(params), options);
}

}  // namespace cg
