// The networks against the official definitions: names, counts, shapes, init, and the fast
// formulations against the official layers.
#include "model/discriminators.h"
#include "model/fast-ops.h"
#include "model/networks.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <numeric>

namespace cg {
namespace {

std::vector<std::string> names(const torch::nn::Module& m) {
  std::vector<std::string> r;
  for (const auto& p : m.named_parameters()) r.push_back(p.key());
  return r;
}

TEST(Networks, Resnet9BlocksMatchesOfficialParameters) {
  Generator g;
  EXPECT_EQ(count_parameters(*g), 11378179);
  const auto n = names(*g);
  ASSERT_EQ(n.size(), 48u);
  EXPECT_EQ(n.front(), "model.1.weight");
  EXPECT_EQ(n[4], "model.7.weight");
  EXPECT_EQ(n[6], "model.10.conv_block.1.weight");
  EXPECT_EQ(n[9], "model.10.conv_block.5.bias");
  EXPECT_EQ(n[41], "model.18.conv_block.5.bias");
  EXPECT_EQ(n[42], "model.19.weight");
  EXPECT_EQ(n[44], "model.22.weight");
  EXPECT_EQ(n.back(), "model.26.bias");
  EXPECT_EQ(g->named_parameters()["model.19.weight"].sizes(), torch::IntArrayRef({256, 128, 3, 3}));
  EXPECT_TRUE(g->named_buffers().is_empty());  // InstanceNorm keeps no running statistics
}

TEST(Networks, Resnet6BlocksMatchesOfficialParameters) {
  GeneratorOptions o;
  o.n_blocks = 6;
  Generator g(o);
  // 9 blocks minus 3 blocks of 2 x (256*256*9 + 256).
  EXPECT_EQ(count_parameters(*g), 11378179 - 3 * 2 * (256 * 256 * 9 + 256));
  const auto n = names(*g);
  ASSERT_EQ(n.size(), 36u);
  EXPECT_EQ(n[30], "model.16.weight");
  EXPECT_EQ(n[32], "model.19.weight");
  EXPECT_EQ(n.back(), "model.23.bias");
}

TEST(Networks, DropoutShiftsSecondBlockConv) {
  GeneratorOptions o;
  o.n_blocks = 1;
  o.use_dropout = true;
  Generator g(o);
  auto params = g->named_parameters();
  EXPECT_TRUE(params.contains("model.10.conv_block.6.weight"));
  EXPECT_FALSE(params.contains("model.10.conv_block.5.weight"));
}

TEST(GeneratorLayout, MacsOfResnet9BlocksAt256) {
  // Head 3*64*49*256^2, downs 64*128*9*128^2 and 128*256*9*64^2, 18 residual convs
  // 256*256*9*64^2, ups per input pixel 256*128*9*64^2 and 128*64*9*128^2, tail 64*3*49*256^2.
  const Layers layers = generator_layers(GeneratorOptions{});
  EXPECT_EQ(count_macs(layers, 3, 256, 256), int64_t{49551507456});
  // Every layer's cost scales with the frame's area: 128x320 is 5/8 of 256x256.
  EXPECT_EQ(count_macs(layers, 3, 128, 320), int64_t{30969692160});
  EXPECT_EQ(count_macs(layers, 3, 20, 28) * 256 * 256, count_macs(layers, 3, 256, 256) * 20 * 28);
}

TEST(GeneratorLayout, MobileBlocksCostAboutEightTimesLess) {
  GeneratorOptions o;
  o.mobile = true;
  EXPECT_EQ(architecture_name(o), "mobile_resnet_9blocks");
  o.n_blocks = 6;
  EXPECT_EQ(architecture_name(o), "mobile_resnet_6blocks");
  o.mobile = false;
  EXPECT_EQ(architecture_name(o), "resnet_6blocks");
  // A plain block: 2 x 256*256*9 per pixel of 64x64; a mobile one: 2 x (256*9 + 256*256).
  const int64_t plain_block = int64_t{2} * 256 * 256 * 9 * 64 * 64,
                mobile_block = int64_t{2} * (256 * 9 + 256 * 256) * 64 * 64;
  o = {};
  const int64_t plain = count_macs(generator_layers(o), 3, 256, 256);
  o.mobile = true;
  const int64_t mobile = count_macs(generator_layers(o), 3, 256, 256);
  EXPECT_EQ(mobile, int64_t{11066671104});
  EXPECT_EQ(plain - mobile, 9 * (plain_block - mobile_block));
  EXPECT_NEAR(static_cast<double>(plain_block) / mobile_block, 2304.0 / 265, 1e-12);
}

TEST(Networks, MobileBlocksAreDepthwiseSeparable) {
  GeneratorOptions o;
  o.mobile = true;
  o.n_blocks = 6;
  Generator g(o);
  const auto n = names(*g);
  ASSERT_EQ(n.size(), 6 + 6 * 8 + 6u);
  const std::vector<std::string> block = {"model.10.conv_block.1.weight", "model.10.conv_block.1.bias",
                                          "model.10.conv_block.3.weight", "model.10.conv_block.3.bias",
                                          "model.10.conv_block.7.weight", "model.10.conv_block.7.bias",
                                          "model.10.conv_block.9.weight", "model.10.conv_block.9.bias"};
  EXPECT_EQ(std::vector<std::string>(n.begin() + 6, n.begin() + 14), block);
  EXPECT_EQ(n[54], "model.16.weight");
  auto p = g->named_parameters();
  EXPECT_EQ(p["model.10.conv_block.1.weight"].sizes(), torch::IntArrayRef({256, 1, 3, 3}));
  EXPECT_EQ(p["model.10.conv_block.3.weight"].sizes(), torch::IntArrayRef({256, 256, 1, 1}));
  // The plain resnet_9blocks without its blocks, plus 6 blocks of 2 x (depthwise + pointwise).
  EXPECT_EQ(count_parameters(*g), 11378179 - 9 * 2 * (256 * 256 * 9 + 256) + 6 * 2 * (256 * 9 + 256 * 256 + 2 * 256));
  o.n_blocks = 1;
  o.use_dropout = true;
  const auto d = names(*Generator(o));
  EXPECT_EQ(d[10], "model.10.conv_block.8.weight");
  EXPECT_EQ(d[12], "model.10.conv_block.10.weight");
}

TEST(Networks, BasicDiscriminatorMatchesOfficial) {
  NLayerDiscriminator d;
  EXPECT_EQ(count_parameters(*d), 2764737);
  const auto n = names(*d);
  const std::vector<std::string> expected = {"model.0.weight",  "model.0.bias", "model.2.weight", "model.2.bias",
                                             "model.5.weight",  "model.5.bias", "model.8.weight", "model.8.bias",
                                             "model.11.weight", "model.11.bias"};
  EXPECT_EQ(n, expected);
  torch::NoGradGuard no_grad;
  EXPECT_EQ(d->forward(torch::randn({1, 3, 256, 256})).sizes(), torch::IntArrayRef({1, 1, 30, 30}));
}

TEST(Networks, DiscriminatorGeneralLayers) {
  DiscriminatorOptions o;
  o.n_layers = 5;
  o.ndf = 8;
  NLayerDiscriminator d(o);
  // Channels 8, 16, 32, 64, then capped at 8 x ndf; five stride-2 convs then two stride-1:
  // 128 -> 4 -> 3 -> 2.
  EXPECT_EQ(d->named_parameters()["model.14.weight"].sizes(), torch::IntArrayRef({64, 64, 4, 4}));
  torch::NoGradGuard no_grad;
  EXPECT_EQ(d->forward(torch::randn({2, 3, 128, 128})).sizes(), torch::IntArrayRef({2, 1, 2, 2}));
}

TEST(Networks, GeneratorShapesNonSquare) {
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 2;
  Generator g(o);
  torch::NoGradGuard no_grad;
  for (auto [h, w] : {std::pair{8, 8}, std::pair{200, 320}, std::pair{36, 12}}) {
    auto y = g->forward(torch::rand({2, 3, h, w}) * 2 - 1);
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({2, 3, h, w}));
    EXPECT_LE(y.abs().max().item<float>(), 1.0f);
  }
}

TEST(Networks, InitStatisticsAreOfficial) {
  torch::manual_seed(7);
  Generator g;
  init_weights(*g, 0.02);
  for (const auto& p : g->named_parameters()) {
    if (p.key().find("bias") != std::string::npos) {
      EXPECT_EQ(p.value().abs().max().item<float>(), 0.0f) << p.key();
    } else if (p.value().numel() > 10000) {
      EXPECT_NEAR(p.value().mean().item<double>(), 0.0, 1e-3) << p.key();
      EXPECT_NEAR(p.value().std().item<double>(), 0.02, 1e-3) << p.key();
    }
  }
}

TEST(FastOps, SubpixelEqualsConvTranspose) {
  torch::manual_seed(3);
  auto ct =
      torch::nn::ConvTranspose2d(torch::nn::ConvTranspose2dOptions(6, 5, 3).stride(2).padding(1).output_padding(1));
  auto x = torch::randn({2, 6, 7, 9});
  torch::NoGradGuard no_grad;
  auto ref = ct->forward(x);
  auto fast = subpixel_upsample(x, subpixel_weight(ct->weight), subpixel_bias(ct->bias));
  ASSERT_EQ(fast.sizes(), ref.sizes());
  EXPECT_LT((fast - ref).abs().max().item<double>(), 1e-5);
}

TEST(FastOps, TransposedWeightInvertsSubpixelWeight) {
  torch::manual_seed(4);
  for (auto [in, out] : {std::pair{6, 5}, std::pair{1, 3}, std::pair{256, 128}}) {
    auto w = torch::randn({in, out, 3, 3});
    auto b = torch::randn({out});
    EXPECT_TRUE(torch::equal(transposed_weight(subpixel_weight(w)), w)) << in << "x" << out;
    EXPECT_TRUE(torch::equal(transposed_bias(subpixel_bias(b)), b)) << out;
  }
}

TEST(FastOps, SubpixelWeightIsDifferentiable) {
  auto w = torch::randn({4, 3, 3, 3}, torch::requires_grad());
  subpixel_weight(w).sum().backward();
  // Each kernel row (and column) serves exactly one (phase, tap) pair, so every weight appears
  // exactly once in the sub-pixel kernel and its gradient under sum() is 1.
  auto g = w.grad();
  EXPECT_EQ(g.sizes(), w.sizes());
  EXPECT_EQ(g.min().item<float>(), 1.0f);
  EXPECT_EQ(g.max().item<float>(), 1.0f);
}

TEST(FastOps, GroupNormEqualsInstanceNorm) {
  auto x = torch::randn({2, 16, 11, 13}) * 3 + 1;
  auto in = torch::nn::InstanceNorm2d(torch::nn::InstanceNorm2dOptions(16));
  EXPECT_LT((instance_norm(x) - in->forward(x)).abs().max().item<double>(), 1e-5);
}

TEST(FastOps, ReflectPadEqualsReflectionPad2dForwardAndBackward) {
  torch::manual_seed(5);
  for (int64_t p : {1, 3}) {
    auto x = torch::randn({2, 3, 5, 8}, torch::requires_grad());
    auto y = x.detach().clone().set_requires_grad(true);
    auto ref = at::reflection_pad2d(x, {p, p, p, p});
    auto ours = reflect_pad(y, p);
    ASSERT_EQ(ours.sizes(), ref.sizes());
    EXPECT_TRUE(torch::equal(ours, ref)) << "p=" << p;
    auto up = torch::randn(ref.sizes());
    ref.backward(up);
    ours.backward(up);
    EXPECT_LT((x.grad() - y.grad()).abs().max().item<double>(), 1e-6) << "p=" << p;
  }
}

TEST(GeneratorLayout, LargestActivationIsTheFinalPad) {
  GeneratorOptions o;
  o.ngf = 8;
  // The last reflection pad holds ngf x (H + 6) x (W + 6); every other tensor is smaller: the
  // first conv's output has ngf x H x W, the deeper ones fewer pixels for their channels.
  EXPECT_EQ(largest_activation(generator_layers(o), 3, 32, 48), 8 * 38 * 54);
  o.ngf = 64;
  EXPECT_EQ(largest_activation(generator_layers(o), 3, 1080, 1920), int64_t{64} * 1086 * 1926);
  // A 1-channel 8x8 image: the residual blocks' pads (256 x 4 x 4) still lose to the last pad.
  EXPECT_EQ(largest_activation(generator_layers(o), 1, 8, 8), 64 * 14 * 14);
}

TEST(GeneratorLayout, LargestActivationOfMobileIsTheFinalPad) {
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 2;
  o.mobile = true;
  EXPECT_EQ(largest_activation(generator_layers(o), 3, 32, 48), 8 * 38 * 54);
  EXPECT_EQ(largest_activation(generator_layers(o), 1, 8, 8), 8 * 14 * 14);
  // The largest top-level output the module really produces.
  Generator g(o);
  std::vector<int64_t> all(g->layers().size());
  std::iota(all.begin(), all.end(), 0);
  std::vector<torch::Tensor> f;
  torch::NoGradGuard no_grad;
  g->forward_with_features(torch::rand({1, 3, 32, 48}), Upsampling::kSubpixel, all, f);
  ASSERT_EQ(f.size(), all.size());
  int64_t largest = 0;
  for (const auto& t : f) largest = std::max(largest, t.numel());
  EXPECT_EQ(largest, 8 * 38 * 54);
}

TEST(Networks, FastForwardEqualsOfficialLayers) {
  torch::manual_seed(11);
  GeneratorOptions o;
  o.ngf = 16;
  o.n_blocks = 3;
  Generator g(o);
  init_weights(*g);
  torch::NoGradGuard no_grad;
  for (auto& p : g->parameters()) p.add_(torch::randn_like(p) * 0.01);
  auto x = torch::rand({1, 3, 40, 24}) * 2 - 1;
  EXPECT_LT((g->forward(x) - g->forward_reference(x)).abs().max().item<double>(), 1e-5);
}

TEST(Networks, MobileFastForwardsEqualOfficialLayers) {
  torch::manual_seed(12);
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 2;
  o.mobile = true;
  Generator g(o);
  init_weights(*g);
  torch::NoGradGuard no_grad;
  for (auto& p : g->parameters()) p.add_(torch::randn_like(p) * 0.05);
  auto x = torch::rand({2, 3, 20, 28}) * 2 - 1;
  const auto ref = g->forward_reference(x.clone());
  EXPECT_EQ(ref.sizes(), x.sizes());
  EXPECT_LT((g->forward(x) - ref).abs().max().item<double>(), 1e-5);
  EXPECT_LT((g->forward_training(x) - ref).abs().max().item<double>(), 1e-5);
}

// The official modules up to and including top-level layer `last`.
torch::Tensor official_prefix(Generator& g, torch::Tensor x, int64_t last) {
  int64_t i = 0;
  for (auto& m : *g->body)
    if (i++ <= last) x = m.forward(x);
  return x;
}

TEST(Networks, FeatureTapsArePrefixOutputs) {
  torch::manual_seed(13);
  for (bool mobile : {false, true}) {
    GeneratorOptions o;
    o.ngf = 8;
    o.n_blocks = 2;
    o.mobile = mobile;
    Generator g(o);
    init_weights(*g);
    torch::NoGradGuard no_grad;
    for (auto& p : g->parameters()) p.add_(torch::randn_like(p) * 0.05);
    auto x = torch::rand({1, 3, 16, 24}) * 2 - 1;
    const int64_t last = static_cast<int64_t>(g->layers().size()) - 1;
    const int64_t block = positions_of(g->layers(), mobile ? LayerKind::kMobileResidual : LayerKind::kResidual)[1];
    const int64_t up = positions_of(g->layers(), LayerKind::kUpConv)[0];
    // Given out of order, they come back in layer order.
    const std::vector<int64_t> taps = {last, 3, block, up};
    for (auto mode : {Upsampling::kSubpixel, Upsampling::kTransposed}) {
      std::vector<torch::Tensor> f;
      auto y = g->forward_with_features(x, mode, taps, f);
      ASSERT_EQ(f.size(), 4u) << mobile;
      EXPECT_TRUE(torch::equal(f[3], y)) << mobile;
      const auto plain = mode == Upsampling::kSubpixel ? g->forward(x) : g->forward_training(x);
      EXPECT_LT((y - plain).abs().max().item<double>(), 1e-6) << mobile;
      EXPECT_EQ(f[0].sizes(), torch::IntArrayRef({1, 8, 16, 24}));
      EXPECT_EQ(f[1].sizes(), torch::IntArrayRef({1, 32, 4, 6}));
      EXPECT_EQ(f[2].sizes(), torch::IntArrayRef({1, 16, 8, 12}));
      for (size_t k = 0; k < 3; ++k)
        EXPECT_LT((f[k] - official_prefix(g, x, taps[k + 1])).abs().max().item<double>(), 1e-5) << mobile << " " << k;
    }
  }
}

TEST(Networks, FastForwardTrainsLikeOfficial) {
  torch::manual_seed(5);
  GeneratorOptions o;
  o.ngf = 8;
  o.n_blocks = 1;
  Generator a(o), b(o);
  init_weights(*a);
  {
    torch::NoGradGuard no_grad;
    for (size_t i = 0; i < a->parameters().size(); ++i) b->parameters()[i].copy_(a->parameters()[i]);
  }
  auto x = torch::rand({1, 3, 16, 16});
  a->forward(x).square().sum().backward();
  b->forward_reference(x).square().sum().backward();
  for (size_t i = 0; i < a->parameters().size(); ++i)
    EXPECT_LT((a->parameters()[i].grad() - b->parameters()[i].grad()).abs().max().item<double>(), 1e-4) << i;
}

}  // namespace
}  // namespace cg
