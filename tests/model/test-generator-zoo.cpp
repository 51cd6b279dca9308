// Every generator family the layout describes: its state_dict layout against the module, the
// fast forwards against the official modules, and the G.pt against both. (The Python side,
// tests/python/test_zoo.py, checks each against independent reimplementations.)
#include "model/generator-script.h"
#include "model/model-file.h"
#include "model/networks.h"
#include "model/official-import.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

namespace cg {
namespace {

struct Case {
  const char* name;
  GeneratorOptions o;
  int64_t h, w;  // a valid non-square frame
};

std::vector<Case> cases() {
  std::vector<Case> c;
  const auto resnet = [](Norm n, bool dropout) {
    GeneratorOptions o;
    o.ngf = 4;
    o.n_blocks = 2;
    o.norm = n;
    o.use_dropout = dropout;
    return o;
  };
  c.push_back({"resnet-batch-dropout", resnet(Norm::kBatch, true), 16, 24});
  c.push_back({"resnet-none", resnet(Norm::kNone, false), 16, 24});
  c.push_back({"resnet-affine", resnet(Norm::kInstanceAffine, false), 16, 24});
  GeneratorOptions cut = resnet(Norm::kInstance, false);
  cut.antialias_down = cut.antialias_up = true;
  c.push_back({"cut", cut, 20, 12});
  GeneratorOptions nearest = resnet(Norm::kInstance, false);
  nearest.upsample_conv = true;
  c.push_back({"upsample-conv", nearest, 12, 20});
  GeneratorOptions s2d4 = resnet(Norm::kInstance, false);
  s2d4.space_to_depth = 4;
  s2d4.mobile = true;
  c.push_back({"s2d4-mobile", s2d4, 16, 24});
  GeneratorOptions s2d2 = resnet(Norm::kBatch, true);
  s2d2.space_to_depth = 2;
  c.push_back({"s2d2-batch-dropout", s2d2, 20, 12});
  for (Norm n : {Norm::kBatch, Norm::kInstance, Norm::kNone}) {
    GeneratorOptions u;
    u.family = Family::kUnet;
    u.unet_downs = 7;
    u.ngf = 2;
    u.norm = n;
    u.use_dropout = n == Norm::kBatch;
    c.push_back({"unet", u, 128, 256});
  }
  return c;
}

// Noise on every parameter and statistic, so that each one matters.
void randomise(Generator& g) {
  torch::manual_seed(7);
  torch::NoGradGuard no_grad;
  for (auto& p : g->named_parameters()) p.value().normal_(p.key().find("weight") != std::string::npos ? 0.0 : 0.1, 0.3);
  for (auto& b : g->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 2.0);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0.0, 0.2);
  }
}

TEST(GeneratorZoo, StateDictLayoutIsTheModules) {
  for (const Case& c : cases()) {
    Generator g(c.o);
    // PyTorch's order: each module's parameters, then its buffers; here the two lists are merged
    // by the layout's own key order, which must contain exactly the same tensors.
    std::map<std::string, std::vector<int64_t>> all;
    for (const auto& p : g->named_parameters()) all[p.key()] = p.value().sizes().vec();
    for (const auto& b : g->named_buffers())
      if (b.key().find("num_batches_tracked") == std::string::npos) all[b.key()] = b.value().sizes().vec();
    const auto specs = state_dict_layout(c.o);
    ASSERT_EQ(specs.size(), all.size()) << c.name;
    for (const auto& s : specs) {
      ASSERT_TRUE(all.count(s.key)) << c.name << ": " << s.key;
      EXPECT_EQ(all[s.key], s.shape) << c.name << ": " << s.key;
    }
  }
}

TEST(GeneratorZoo, FastForwardsEqualOfficialModules) {
  for (const Case& c : cases()) {
    Generator g(c.o);
    randomise(g);
    const auto x = torch::rand({2, 3, c.h, c.w}) * 2 - 1;
    torch::NoGradGuard no_grad;
    g->eval();
    const auto ref = g->forward_reference(x);
    EXPECT_EQ(ref.sizes(), x.sizes()) << c.name;
    EXPECT_LT((g->forward(x) - ref).abs().max().item<double>(), 1e-4) << c.name;
    EXPECT_LT((g->forward_training(x) - ref).abs().max().item<double>(), 1e-4) << c.name;
    if (c.o.norm == Norm::kBatch) {
      // Training mode: batch statistics in both (dropout off so the outputs are comparable).
      GeneratorOptions o = c.o;
      o.use_dropout = false;
      Generator a(o), b(o);
      randomise(a);
      randomise(b);
      a->train();
      b->train();
      EXPECT_LT((a->forward_training(x) - b->forward_reference(x)).abs().max().item<double>(), 1e-4) << c.name;
      // ...and both moved their running statistics the same way.
      for (const auto& s : state_dict_layout(o)) {
        if (s.key.find("running_mean") == std::string::npos) continue;
        EXPECT_TRUE(a->named_buffers()[s.key].allclose(b->named_buffers()[s.key])) << c.name << ": " << s.key;
      }
    }
  }
}

TEST(GeneratorZoo, ModelFileRunsEveryFamilyAtItsSizeRule) {
  test::TempDir dir;
  for (const Case& c : cases()) {
    Generator g(c.o);
    randomise(g);
    g->eval();
    const std::string path = dir / (std::string(c.name) + ".pt");
    save_generator(g, ModelMetadata::for_generator(c.o), path);
    auto m = load_generator(path);
    EXPECT_EQ(m.size_rule.multiple, size_multiple(c.o)) << c.name;
    EXPECT_EQ(m.size_rule.min, min_size(c.o)) << c.name;
    const auto x = torch::rand({1, 3, c.h, c.w}) * 2 - 1;
    torch::NoGradGuard no_grad;
    const auto y = m.module.forward({x}).toTensor();
    EXPECT_LT((y - g->forward_reference(x)).abs().max().item<double>(), 1e-4) << c.name;
    // The trainable generator comes back whole from the file.
    auto back = trainable_generator(m, path);
    back->eval();
    EXPECT_LT((back->forward_reference(x) - g->forward_reference(x)).abs().max().item<double>(), 1e-4) << c.name;
  }
}

TEST(GeneratorZoo, SizeRules) {
  GeneratorOptions u;
  u.family = Family::kUnet;
  EXPECT_EQ(size_multiple(u), 256);
  EXPECT_EQ(architecture_name(u), "unet_256");
  u.unet_downs = 7;
  EXPECT_EQ(size_multiple(u), 128);
  EXPECT_EQ(min_size(u), 128);
  EXPECT_EQ(size_multiple(GeneratorOptions{}), 4);
  EXPECT_EQ(min_size(GeneratorOptions{}), 8);
}

// Space-to-depth takes the place of stride-2 downsamplings: the trunk keeps its resolution and
// width, nothing is convolved at full resolution, and the size rule stays the ResNets'.
TEST(GeneratorZoo, SpaceToDepthNeverConvolvesAtFullResolution) {
  GeneratorOptions o;
  o.ngf = 16;
  o.n_blocks = 6;
  o.mobile = true;
  o.space_to_depth = 4;
  EXPECT_EQ(architecture_name(o), "s2d4_mobile_resnet_6blocks");
  EXPECT_EQ(size_multiple(o), 4);
  EXPECT_EQ(min_size(o), 8);
  const Layers l = generator_layers(o);
  ASSERT_GE(l.size(), 3u);
  EXPECT_EQ(l.front().kind, LayerKind::kSpaceToDepth);
  EXPECT_EQ(l.front().out, 48);
  EXPECT_EQ(l[l.size() - 2].kind, LayerKind::kDepthToSpace);
  EXPECT_EQ(l.back().kind, LayerKind::kTanh);
  EXPECT_TRUE(positions_of(l, LayerKind::kUpConv).empty());
  // Every convolution sees a quarter of the frame's side (padded by one), the trunk's included.
  int64_t side = 64;
  for (const Layer& k : l) {
    switch (k.kind) {
      case LayerKind::kSpaceToDepth: side /= k.stride; break;
      case LayerKind::kDepthToSpace: side *= k.stride; break;
      case LayerKind::kReflectPad: side += 2 * k.padding; break;
      case LayerKind::kConv:
        EXPECT_LE(side, 64 / 4 + 2);
        side = (side + 2 * k.padding - k.kernel) / k.stride + 1;
        break;
      default: break;
    }
  }
  EXPECT_EQ(side, 64);
  // Cost: two 3x3 convolutions between 48 and 64 channels at 64x64, six mobile blocks of two
  // depthwise 3x3 and two 1x1 convolutions at 64 channels.
  const int64_t px = 64 * 64, edge = 48 * 64 * 9 * px, block = 2 * (64 * 9 + 64 * 64) * px;
  EXPECT_EQ(macs_per_frame(o), 2 * edge + 6 * block);
  // The largest tensor is the trunk's (64 x 66 x 66 padded), not a full-resolution one.
  EXPECT_EQ(largest_activation(l, 3, 256, 256), 64 * 66 * 66);
  // A factor of 2 keeps one stride-2 convolution and one transposed one.
  o.space_to_depth = 2;
  EXPECT_EQ(architecture_name(o), "s2d2_mobile_resnet_6blocks");
  EXPECT_EQ(size_multiple(o), 4);
  const Layers half = generator_layers(o);
  EXPECT_EQ(positions_of(half, LayerKind::kUpConv).size(), 1u);
  EXPECT_EQ(half.front().out, 12);
  // Other factors are refused.
  o.space_to_depth = 3;
  EXPECT_FALSE(valid_space_to_depth(3));
  EXPECT_THROW(Generator{o}, c10::Error);
}

// The official unet_256 (ngf 64, batch norm): the official code prints "Total number of
// parameters : 54.414 M" for pix2pix's netG.
TEST(GeneratorZoo, Unet256HasTheOfficialParameterCount) {
  GeneratorOptions u;
  u.family = Family::kUnet;
  u.norm = Norm::kBatch;
  u.use_dropout = true;
  Generator g(u);
  EXPECT_EQ((count_parameters(*g) + 500) / 1000, 54414);
}

TEST(GeneratorZoo, RecognitionNamesWhatDoesNotFit) {
  GeneratorOptions o;
  o.ngf = 4;
  o.n_blocks = 2;
  o.norm = Norm::kBatch;
  Generator g(o);
  NamedTensors state;
  for (const auto& s : state_dict_layout(o)) state.emplace_back(s.key, torch::zeros(s.shape));
  EXPECT_EQ(recognise_generator(state, "x.pth").options.norm, Norm::kBatch);
  // The same tensors under other names are matched by order.
  NamedTensors renamed;
  for (size_t i = 0; i < state.size(); ++i) renamed.emplace_back("net.t" + std::to_string(i), state[i].second);
  const auto r = recognise_generator(renamed, "y.pth");
  EXPECT_FALSE(r.by_name);
  EXPECT_EQ(r.options.n_blocks, 2);
  EXPECT_EQ(r.options.norm, Norm::kBatch);
  // A running variance gone: the message names where the closest architecture differs.
  NamedTensors broken = state;
  broken.erase(broken.begin() + 4);
  EXPECT_THAT(test::error_of([&] { recognise_generator(broken, "z.pth"); }),
              testing::AllOf(testing::HasSubstr("z.pth"), testing::HasSubstr("missing key 'model.2.running_var'")));
  EXPECT_THAT(test::error_of([&] { recognise_generator(state, "x.pth", "unet"); }),
              testing::HasSubstr("not a generator this importer knows"));
}

// A U-Net written elsewhere, without our metadata, fails on small frames: it is probed at growing
// sizes, and its size rule is the size at which it first runs.
TEST(GeneratorZoo, ForeignUnetIsProbedForItsSize) {
  GeneratorOptions u;
  u.family = Family::kUnet;
  u.unet_downs = 7;
  u.ngf = 2;
  Generator g(u);
  g->eval();
  test::TempDir dir;
  const std::string path = dir / "foreign.pt";
  generator_script(*g).save(path);
  const auto m = load_generator(path);
  EXPECT_FALSE(m.has_metadata);
  EXPECT_EQ(m.size_rule.multiple, 128);
  EXPECT_EQ(m.size_rule.min, 128);
  // Passes are sized for a U-Net of that depth, not for the default ResNet.
  EXPECT_EQ(m.generator_options().family, Family::kUnet);
  EXPECT_EQ(m.generator_options().unet_downs, 7);
  EXPECT_EQ(architecture_name(m.generator_options()), "unet_128");
}

}  // namespace
}  // namespace cg
