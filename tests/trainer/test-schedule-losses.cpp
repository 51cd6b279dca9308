#include "trainer/train/losses.h"
#include "trainer/train/schedule.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

namespace cg {
namespace {

constexpr double kLr = 0.0002;

TEST(Schedule, OfficialDefaults) {
  EXPECT_DOUBLE_EQ(kLr * lr_factor(1, 100, 100), 2e-4);
  EXPECT_DOUBLE_EQ(kLr * lr_factor(100, 100, 100), 2e-4);
  EXPECT_NEAR(kLr * lr_factor(101, 100, 100), 2e-4 * 100.0 / 101.0, 1e-18);
  EXPECT_NEAR(kLr * lr_factor(150, 100, 100), 2e-4 * 51.0 / 101.0, 1e-18);
  EXPECT_NEAR(kLr * lr_factor(200, 100, 100), 2e-4 / 101.0, 1e-18);
}

// The e-th epoch of a run started with --epoch-count c is absolute epoch e + c - 1.
TEST(Schedule, EpochCountShiftsTheRun) {
  const int c = 101;
  EXPECT_NEAR(kLr * lr_factor(1 + c - 1, 100, 100), 2e-4 * 100.0 / 101.0, 1e-18);
  EXPECT_NEAR(kLr * lr_factor(50 + c - 1, 100, 100), 2e-4 * 51.0 / 101.0, 1e-18);
}

at::Tensor t(std::initializer_list<float> v) { return at::tensor(std::vector<float>(v)); }

TEST(Losses, LsganIsMeanSquaredErrorToOneOrZero) {
  const auto pred = t({0.5f, 0.0f, 2.0f});
  // real: ((0.5-1)^2 + 1 + 1) / 3 ; fake: (0.25 + 0 + 4) / 3
  EXPECT_NEAR(gan_loss(pred, true, GanMode::lsgan).item<double>(), 2.25 / 3, 1e-6);
  EXPECT_NEAR(gan_loss(pred, false, GanMode::lsgan).item<double>(), 4.25 / 3, 1e-6);
}

TEST(Losses, VanillaIsBinaryCrossEntropyOnLogits) {
  const auto pred = t({0.0f, 2.0f});
  // real: (ln 2 + ln(1 + e^-2)) / 2 ; fake: (ln 2 + ln(1 + e^2)) / 2
  EXPECT_NEAR(gan_loss(pred, true, GanMode::vanilla).item<double>(), (std::log(2.0) + std::log1p(std::exp(-2.0))) / 2,
              1e-6);
  EXPECT_NEAR(gan_loss(pred, false, GanMode::vanilla).item<double>(), (std::log(2.0) + std::log1p(std::exp(2.0))) / 2,
              1e-6);
}

TEST(Losses, CycleIsWeightedL1) {
  // |1-0| + |2-2| + |3-5| = 3 over 3 elements, times lambda 10.
  EXPECT_NEAR(cycle_loss(t({1, 2, 3}), t({0, 2, 5}), 10.0).item<double>(), 10.0, 1e-6);
}

TEST(Losses, IdentityIsL1TimesLambdaTimesLambdaIdentity) {
  // mean |G(y) - y| = 1.5, times 10 * 0.5.
  EXPECT_NEAR(identity_loss(t({1, -1}), t({-0.5f, 0.5f}), 10.0, 0.5).item<double>(), 7.5, 1e-6);
}

TEST(Losses, DiscriminatorIsHalfTheSum) {
  // real preds (1, 0) against 1: 0.5; fake preds (1, 0.5) against 0: 0.625; half the sum.
  EXPECT_NEAR(discriminator_loss(t({1, 0}), t({1, 0.5f}), GanMode::lsgan).item<double>(), 0.5 * (0.5 + 0.625), 1e-6);
}

TEST(Losses, GradientsFlowToPredictions) {
  auto pred = t({0.5f, 0.0f}).set_requires_grad(true);
  gan_loss(pred, true, GanMode::lsgan).backward();
  // d/dp mean((p-1)^2) = 2(p-1)/n
  EXPECT_NEAR(pred.grad()[0].item<double>(), -0.5, 1e-6);
  EXPECT_NEAR(pred.grad()[1].item<double>(), -1.0, 1e-6);
}

}  // namespace
}  // namespace cg
