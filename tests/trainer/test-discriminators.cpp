// The discriminators --netD and --norm choose, against the official modules' state_dict keys and
// shapes (pytorch-CycleGAN-and-pix2pix models/networks.py: NLayerDiscriminator's `model`,
// PixelDiscriminator's `net`, get_norm_layer, and the use_bias rule: a conv followed by a norm
// layer has a bias only with instance norm).
#include "model/discriminators.h"
#include "model/networks.h"
#include "trainer/train/options.h"
#include "trainer/train/trainable.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace cg {
namespace {

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

// Parameters and buffers in state_dict order, with their shapes.
Shapes state_of(torch::nn::Module& m) {
  Shapes s;
  for (const auto& p : m.named_parameters()) s.push_back({p.key(), p.value().sizes().vec()});
  for (const auto& b : m.named_buffers()) s.push_back({b.key(), b.value().sizes().vec()});
  return s;
}

DiscriminatorOptions options(DiscriminatorOptions::Kind kind, DiscriminatorOptions::Norm norm) {
  DiscriminatorOptions o;
  o.kind = kind;
  o.norm = norm;
  return o;
}

using Kind = DiscriminatorOptions::Kind;
using Norm = DiscriminatorOptions::Norm;

// PixelDiscriminator(3, ndf 64): Conv1x1(3, 64) · LReLU · Conv1x1(64, 128) · norm(128) · LReLU ·
// Conv1x1(128, 1); the last two convs have a bias only with instance norm.
TEST(Discriminators, PixelMatchesTheOfficialKeys) {
  const Shapes instance = {{"net.0.weight", {64, 3, 1, 1}},   {"net.0.bias", {64}},
                           {"net.2.weight", {128, 64, 1, 1}}, {"net.2.bias", {128}},
                           {"net.5.weight", {1, 128, 1, 1}},  {"net.5.bias", {1}}};
  Discriminator d(options(Kind::kPixel, Norm::kInstance));
  EXPECT_EQ(state_of(*d), instance);
  EXPECT_EQ(count_parameters(*d), 8705);
  EXPECT_EQ(state_of(*PixelDiscriminator(options(Kind::kPixel, Norm::kInstance))), instance);

  const Shapes batch = {
      {"net.0.weight", {64, 3, 1, 1}}, {"net.0.bias", {64}},         {"net.2.weight", {128, 64, 1, 1}},
      {"net.3.weight", {128}},         {"net.3.bias", {128}},        {"net.5.weight", {1, 128, 1, 1}},
      {"net.3.running_mean", {128}},   {"net.3.running_var", {128}}, {"net.3.num_batches_tracked", {}}};
  EXPECT_EQ(state_of(*Discriminator(options(Kind::kPixel, Norm::kBatch))), batch);

  // none: an Identity at index 3, without tensors.
  const Shapes none = {{"net.0.weight", {64, 3, 1, 1}},
                       {"net.0.bias", {64}},
                       {"net.2.weight", {128, 64, 1, 1}},
                       {"net.5.weight", {1, 128, 1, 1}}};
  EXPECT_EQ(state_of(*Discriminator(options(Kind::kPixel, Norm::kNone))), none);

  // One judgement per pixel: the output has the input's size.
  torch::NoGradGuard no_grad;
  EXPECT_EQ(d->forward(torch::randn({2, 3, 16, 20})).sizes(), torch::IntArrayRef({2, 1, 16, 20}));
}

// The basic (3-layer) PatchGAN's norm layers sit at 3, 6 and 9 whatever --norm is.
TEST(Discriminators, NLayerNormsKeepTheOfficialIndices) {
  const Shapes batch = {{"model.0.weight", {64, 3, 4, 4}},
                        {"model.0.bias", {64}},
                        {"model.2.weight", {128, 64, 4, 4}},
                        {"model.3.weight", {128}},
                        {"model.3.bias", {128}},
                        {"model.5.weight", {256, 128, 4, 4}},
                        {"model.6.weight", {256}},
                        {"model.6.bias", {256}},
                        {"model.8.weight", {512, 256, 4, 4}},
                        {"model.9.weight", {512}},
                        {"model.9.bias", {512}},
                        {"model.11.weight", {1, 512, 4, 4}},
                        {"model.11.bias", {1}},
                        {"model.3.running_mean", {128}},
                        {"model.3.running_var", {128}},
                        {"model.3.num_batches_tracked", {}},
                        {"model.6.running_mean", {256}},
                        {"model.6.running_var", {256}},
                        {"model.6.num_batches_tracked", {}},
                        {"model.9.running_mean", {512}},
                        {"model.9.running_var", {512}},
                        {"model.9.num_batches_tracked", {}}};
  Discriminator b(options(Kind::kNLayer, Norm::kBatch));
  EXPECT_EQ(state_of(*b), batch);
  EXPECT_EQ(count_parameters(*b), 2765633);

  const Shapes none = {{"model.0.weight", {64, 3, 4, 4}},
                       {"model.0.bias", {64}},
                       {"model.2.weight", {128, 64, 4, 4}},
                       {"model.5.weight", {256, 128, 4, 4}},
                       {"model.8.weight", {512, 256, 4, 4}},
                       {"model.11.weight", {1, 512, 4, 4}},
                       {"model.11.bias", {1}}};
  Discriminator n(options(Kind::kNLayer, Norm::kNone));
  EXPECT_EQ(state_of(*n), none);
  EXPECT_EQ(count_parameters(*n), 2763841);

  torch::NoGradGuard no_grad;
  EXPECT_EQ(b->forward(torch::randn({2, 3, 64, 64})).sizes(), torch::IntArrayRef({2, 1, 6, 6}));
  EXPECT_EQ(n->forward(torch::randn({1, 3, 64, 64})).sizes(), torch::IntArrayRef({1, 1, 6, 6}));
}

// The default Discriminator is the basic NLayerDiscriminator, key for key, so checkpoints of
// runs made before it load.
TEST(Discriminators, BasicLoadsAnNLayerDiscriminatorState) {
  torch::manual_seed(3);
  NLayerDiscriminator old;
  Discriminator d;
  EXPECT_EQ(state_of(*old), state_of(*d));
  torch::serialize::OutputArchive out;
  old->save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  d->load(in);
  const auto a = old->named_parameters(), b = d->named_parameters();
  for (const auto& p : a) EXPECT_TRUE(p.value().equal(b[p.key()])) << p.key();
}

TEST(Discriminators, OptionsFollowNetDAndNorm) {
  TrainOptions o;
  o.netD = "pixel";
  o.norm = "batch";
  o.ndf = 8;
  auto d = discriminator_options(o);
  EXPECT_EQ(d.kind, Kind::kPixel);
  EXPECT_EQ(d.norm, Norm::kBatch);
  EXPECT_EQ(d.ndf, 8);
  o.netD = "n_layers";
  o.n_layers_D = 2;
  o.norm = "none";
  d = discriminator_options(o);
  EXPECT_EQ(d.kind, Kind::kNLayer);
  EXPECT_EQ(d.norm, Norm::kNone);
  EXPECT_EQ(d.n_layers, 2);
}

// The official init_weights: BatchNorm weights from N(1, gain), biases 0; convs as before. For
// networks without batch norm, the draws are init_weights' own (seeded runs keep their weights).
TEST(Discriminators, InitialisationAsTheOfficial) {
  Discriminator d(options(Kind::kNLayer, Norm::kBatch));
  initialise(*d, "normal", 0.02);
  const auto p = d->named_parameters();
  const auto w = p["model.9.weight"];
  EXPECT_NEAR(w.mean().item<double>(), 1.0, 0.005);
  EXPECT_NEAR(w.std().item<double>(), 0.02, 0.003);
  EXPECT_EQ(p["model.9.bias"].abs().max().item<double>(), 0.0);
  EXPECT_NEAR(p["model.8.weight"].std().item<double>(), 0.02, 0.001);

  GeneratorOptions go;
  go.ngf = 4;
  go.n_blocks = 1;
  Generator a(go), b(go);
  torch::manual_seed(5);
  initialise(*a, "normal", 0.02);
  torch::manual_seed(5);
  init_weights(*b, 0.02);
  const auto pb = b->named_parameters();
  for (const auto& q : a->named_parameters()) EXPECT_TRUE(q.value().equal(pb[q.key()])) << q.key();
}

}  // namespace
}  // namespace cg
