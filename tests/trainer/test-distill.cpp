// Distillation: its losses on hand-computed values and the feature maps it taps.
#include "model/generator-layout.h"
#include "trainer/train/distiller.h"
#include "trainer/train/losses.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

namespace cg {
namespace {

at::Tensor t(std::initializer_list<float> v) { return at::tensor(std::vector<float>(v)); }

TEST(DistillLosses, ReconstructionIsWeightedL1) {
  // |1-0| + |2-2| + |3-5| + |-1-(-2)| = 4 over 4 elements, times lambda 10.
  EXPECT_NEAR(reconstruction_loss(t({1, 2, 3, -1}), t({0, 2, 5, -2}), 10.0).item<double>(), 10.0, 1e-6);
  EXPECT_NEAR(reconstruction_loss(t({1, 2}), t({1, 2}), 10.0).item<double>(), 0.0, 1e-12);
}

TEST(DistillLosses, FeatureIsWeightedSumOfMeanSquaredErrors) {
  // Pair 1: (1 + 4) / 2 = 2.5; pair 2 (another shape): (1 + 1 + 0 + 4) / 4 = 1.5; sum 4, times 2.
  const std::vector<at::Tensor> student = {t({1, 2}), t({1, 1, 1, 1}).view({1, 1, 2, 2})};
  const std::vector<at::Tensor> teacher = {t({0, 0}), t({0, 2, 1, 3}).view({1, 1, 2, 2})};
  EXPECT_NEAR(feature_loss(student, teacher, 2.0).item<double>(), 8.0, 1e-6);
  EXPECT_NEAR(feature_loss({}, {}, 2.0).item<double>(), 0.0, 1e-12);  // no features: no loss
  EXPECT_THROW(feature_loss({t({1})}, teacher, 1.0), std::invalid_argument);
}

TEST(DistillLosses, FeatureGradientReachesTheStudent) {
  auto s = t({1, 2}).set_requires_grad(true);
  feature_loss({s}, {t({0, 0})}, 3.0).backward();
  // d/ds 3 * mean((s - 0)^2) = 3 * 2 s / 2 = 3 s
  EXPECT_NEAR(s.grad()[0].item<double>(), 3.0, 1e-6);
  EXPECT_NEAR(s.grad()[1].item<double>(), 6.0, 1e-6);
}

Layers layers_of(int64_t blocks, bool mobile) {
  GeneratorOptions g;
  g.ngf = 8;
  g.n_blocks = blocks;
  g.mobile = mobile;
  return generator_layers(g);
}

// Layers 0-9 are the stem and the two downsamplings; the residual blocks start at 10. The taps
// are the end of the downsampling and the trunk after each third of the blocks.
TEST(FeatureTaps, NineBlocks) {
  EXPECT_EQ(feature_taps(layers_of(9, false), 4), (std::vector<int64_t>{9, 12, 15, 18}));
  EXPECT_EQ(feature_taps(layers_of(9, false), 2), (std::vector<int64_t>{9, 18}));
  EXPECT_EQ(feature_taps(layers_of(9, false), 1), (std::vector<int64_t>{9}));
}

TEST(FeatureTaps, SixBlocks) { EXPECT_EQ(feature_taps(layers_of(6, false), 4), (std::vector<int64_t>{9, 11, 13, 15})); }

TEST(FeatureTaps, MobileStudentAndFewBlocks) {
  EXPECT_EQ(feature_taps(layers_of(9, true), 4), (std::vector<int64_t>{9, 12, 15, 18}));
  EXPECT_EQ(feature_taps(layers_of(6, true), 4), (std::vector<int64_t>{9, 11, 13, 15}));
  // Fewer blocks than thirds: the distiller asks for blocks + 1 taps, one after each block.
  EXPECT_EQ(feature_taps(layers_of(2, true), 3), (std::vector<int64_t>{9, 10, 11}));
}

// A tap is a layer whose output has the trunk's channels (ngf * 4): what the 1x1 mappings expect.
TEST(FeatureTaps, TapTheTrunkWidth) {
  for (const bool mobile : {false, true}) {
    const Layers layers = layers_of(9, mobile);
    for (const int64_t p : feature_taps(layers, 4)) {
      ASSERT_LT(p, static_cast<int64_t>(layers.size()));
      const Layer& l = layers[static_cast<size_t>(p)];
      EXPECT_TRUE(l.kind == LayerKind::kRelu || l.kind == LayerKind::kResidual || l.kind == LayerKind::kMobileResidual)
          << p;
      const int64_t width = l.kind == LayerKind::kRelu ? layers[static_cast<size_t>(p) - 1].out : l.out;
      EXPECT_EQ(width, 32) << p;
    }
  }
}

}  // namespace
}  // namespace cg
