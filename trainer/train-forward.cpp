#include "train-forward.h"

#include "fast-ops.h"

#include <torch/torch.h>

namespace cg {

namespace nn = torch::nn;

namespace {

at::Tensor conv(const at::Tensor& x, const nn::Conv2dImpl& c, int64_t stride = 1, int64_t pad = 0) {
  return at::conv2d(x, c.weight, c.bias, stride, pad);
}

at::Tensor reflect(const at::Tensor& x, int64_t p) { return at::reflection_pad2d(x, {p, p, p, p}); }

}  // namespace

at::Tensor generator_training_forward(ResnetGeneratorImpl& g, const at::Tensor& input) {
  TORCH_CHECK(!g.options().use_dropout, "generator_training_forward: the cycle_gan model trains without dropout");
  auto& m = *g.model;
  auto x = at::relu(instance_norm(conv(reflect(input, 3), *m[1]->as<nn::Conv2dImpl>())));
  x = at::relu(instance_norm(conv(x, *m[4]->as<nn::Conv2dImpl>(), 2, 1)));
  x = at::relu(instance_norm(conv(x, *m[7]->as<nn::Conv2dImpl>(), 2, 1)));
  for (int64_t i = 0; i < g.options().n_blocks; ++i) {
    auto block = m[static_cast<size_t>(g.block_index(i))]->named_children()["conv_block"]->as<nn::SequentialImpl>();
    auto& block_seq = *block;
    const auto& c1 = *block_seq[1]->as<nn::Conv2dImpl>();
    const auto& c2 = *block_seq[5]->as<nn::Conv2dImpl>();
    auto y = at::relu(instance_norm(conv(reflect(x, 1), c1)));
    x = x + instance_norm(conv(reflect(y, 1), c2));
  }
  for (int64_t i = 0; i < 2; ++i) {
    const auto* up = m[static_cast<size_t>(g.up_index(i))]->as<nn::ConvTranspose2dImpl>();
    x = at::relu(instance_norm(at::conv_transpose2d(x, up->weight, up->bias, 2, 1, 1)));
  }
  return at::tanh(conv(reflect(x, 3), *m[static_cast<size_t>(g.final_conv_index())]->as<nn::Conv2dImpl>()));
}

}  // namespace cg
