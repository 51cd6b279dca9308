#include "common/error.h"
#include "trainer/train/losses.h"
#include "trainer/train/options.h"
#include "trainer/train/schedule.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <vector>

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

TrainOptions policy(const std::string& name, int epoch_count = 1) {
  TrainOptions o;
  o.lr_policy = name;
  o.epoch_count = epoch_count;
  return o;
}

// The lr of the e-th epoch of a run (e = 1, 2...) is torch's after e - 1 scheduler steps. The
// expected values are torch 2.11's, printed by stepping torch.optim.lr_scheduler.StepLR(step_size 2,
// gamma 0.1) on an Adam at lr 2e-4 once per epoch.
TEST(Schedule, StepPolicy) {
  TrainOptions o = policy("step", 3);
  o.lr_decay_iters = 2;
  const double torch_lrs[] = {2e-4, 2e-4, 2e-5, 2e-5, 2e-6, 2e-6, 2e-7};
  for (int e = 1; e <= 7; ++e) EXPECT_NEAR(kLr * lr_factor(o, e + 2, {}), torch_lrs[e - 1], 1e-18) << "epoch " << e;
  // The official default: ten times lower every 50 epochs.
  EXPECT_EQ(step_lr_factor(49, 50), 1.0);
  EXPECT_NEAR(step_lr_factor(50, 50), 0.1, 1e-16);
  EXPECT_NEAR(step_lr_factor(149, 50), 0.01, 1e-17);
}

// torch's CosineAnnealingLR(T_max 4, eta_min 0) stepped 0..8 times (its recursive form; ours is
// the closed form, equal to rounding), periodic past T_max as torch's is.
TEST(Schedule, CosinePolicy) {
  TrainOptions o = policy("cosine");
  o.n_epochs = 4;
  const double torch_lrs[] = {0.0002,
                              0.00017071067811865476,
                              0.0001,
                              2.9289321881345254e-05,
                              0.0,
                              2.9289321881345244e-05,
                              0.00010000000000000002,
                              0.0001707106781186548,
                              0.00020000000000000006};
  for (int e = 1; e <= 9; ++e) EXPECT_NEAR(kLr * lr_factor(o, e, {}), torch_lrs[e - 1], 1e-15) << "epoch " << e;
}

TEST(Schedule, LinearPolicyIsTheOfficialLambda) {
  TrainOptions o = policy("linear", 101);
  EXPECT_NEAR(kLr * lr_factor(o, 101, {}), 2e-4 * 100.0 / 101.0, 1e-18);
  EXPECT_EQ(lr_factor(policy("linear"), 100, {}), 1.0);
}

// Steps a plateau state through `metrics` (one per epoch) and returns the lr of each epoch after
// the first: the lr after each step.
std::vector<double> plateau_lrs(const std::vector<double>& metrics) {
  PlateauState s;
  std::vector<double> lrs;
  const TrainOptions o = policy("plateau");
  for (double m : metrics) {
    plateau_step(s, m, kLr);
    lrs.push_back(kLr * lr_factor(o, 1, s));
  }
  return lrs;
}

// Expected: torch's ReduceLROnPlateau(mode 'min', factor 0.2, threshold 0.01, patience 5) on an
// Adam at 2e-4, stepped with the same metrics (torch 2.11).
TEST(Schedule, PlateauReducesAfterSixEpochsWithoutAOnePercentGain) {
  // 0.995 is not 1% below 1.0 (bad); 0.98 is (best); 0.975..0.9705 are not (bad 1..4); 0.97 is
  // (best); 0.5 is (best), then six more 0.5 make six bad epochs: the lr falls after the last.
  const std::vector<double> metrics = {1.0, 0.995, 0.98, 0.975, 0.972, 0.971, 0.9705, 0.97,
                                       0.5, 0.5,   0.5,  0.5,   0.5,   0.5,   0.5};
  const auto lrs = plateau_lrs(metrics);
  for (size_t i = 0; i + 1 < lrs.size(); ++i) EXPECT_EQ(lrs[i], 2e-4) << "after step " << i + 1;
  EXPECT_NEAR(lrs.back(), 4e-5, 1e-19);
}

// The official metric, a constant 0: a cut every 6 epochs (after steps 7 and 13).
TEST(Schedule, PlateauOnTheOfficialZeroMetric) {
  const auto lrs = plateau_lrs(std::vector<double>(14, 0.0));
  for (size_t i = 0; i < lrs.size(); ++i) {
    const double expected = i + 1 < 7 ? 2e-4 : i + 1 < 13 ? 4e-5 : 8e-6;
    EXPECT_NEAR(lrs[i], expected, 1e-18) << "after step " << i + 1;
  }
}

// torch skips a cut smaller than eps 1e-8: a constant metric cuts 7 times, at steps 7, 13, ..., 43 (to
// 2.56e-9) and never again.
TEST(Schedule, PlateauStopsBelowEps) {
  const auto lrs = plateau_lrs(std::vector<double>(70, 1.0));
  int cuts = 0;
  for (size_t i = 1; i < lrs.size(); ++i) cuts += lrs[i] != lrs[i - 1];
  EXPECT_EQ(cuts, 7);
  EXPECT_NEAR(lrs[42], 2.56e-9, 1e-22);
  EXPECT_NEAR(lrs[41], 1.28e-8, 1e-21);
  EXPECT_EQ(lrs.back(), lrs[42]);
}

// A relative threshold below zero makes a constant negative metric count as better each epoch
// (torch: best * (1 - 0.01) is above best): never a cut, as in torch.
TEST(Schedule, PlateauWithNegativeMetricsAsTorch) {
  const auto lrs = plateau_lrs({-1.0, -0.995, -0.98, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0});
  for (double lr : lrs) EXPECT_EQ(lr, 2e-4);
}

TEST(Schedule, BadPolicyNamesTheOption) {
  try {
    lr_policy_from("foo");
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "--lr-policy foo is not one of linear, step, plateau, cosine");
  }
  TrainOptions o;
  o.dataroot = "x";
  o.lr_policy = "foo";
  EXPECT_THROW(o.validate(), Error);
  o.lr_policy = "cosine";
  o.n_epochs = 0;
  EXPECT_THROW(o.validate(), Error);
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

TEST(Losses, WganIsMinusMeanForRealPlusMeanForFake) {
  const auto pred = t({0.5f, 0.0f, 2.0f});
  EXPECT_NEAR(gan_loss(pred, true, GanMode::wgangp).item<double>(), -2.5 / 3, 1e-6);
  EXPECT_NEAR(gan_loss(pred, false, GanMode::wgangp).item<double>(), 2.5 / 3, 1e-6);
  // The discriminator's loss halves the sum, as for the other modes: 0.5 * (-1 + 3).
  EXPECT_NEAR(discriminator_loss(t({1, 1}), t({3, 3}), GanMode::wgangp).item<double>(), 1.0, 1e-6);
}

// Fixed values ((i mod k) - k/2) * scale, the same in the Python that computed the expectations.
at::Tensor fixed(int64_t n, int64_t k, double scale, at::IntArrayRef shape) {
  return ((at::remainder(at::arange(n, at::kFloat), k) - static_cast<double>(k / 2)) * scale).reshape(shape);
}

// A small critic, D(x) = conv1x1(leaky_relu(conv2x2(x) + b1)), on two 2-channel 3x3 images with
// alpha 0.25 and 0.75. Expected: the official cal_gradient_penalty(type 'mixed', constant 1,
// lambda_gp 10) in torch 2.11 float64, alpha given instead of drawn:
//   w1 = v(32, 7, 0.1).reshape(4, 2, 2, 2); b1 = v(4, 3, 0.05); w2 = v(4, 5, 0.2).reshape(1, 4, 1, 1)
//   real = sin(arange(36)).reshape(2, 2, 3, 3); fake = cos(...); gp.backward()
// gave gp 2.8135423987824444, dgp/dw1 summed 4.917105436889068 (w1.grad[0,0,0,0] 3.1514624264191395),
// dgp/dw2 [7.316968267842155, 5.14793890521266, -1.1108434790113426, -5.011212565190798].
TEST(Losses, GradientPenaltyMatchesTheOfficial) {
  const auto w1 = fixed(32, 7, 0.1, {4, 2, 2, 2}).requires_grad_(true);
  const auto b1 = fixed(4, 3, 0.05, {4}).requires_grad_(true);
  const auto w2 = fixed(4, 5, 0.2, {1, 4, 1, 1}).requires_grad_(true);
  const auto D = [&](const at::Tensor& x) { return at::conv2d(at::leaky_relu(at::conv2d(x, w1, b1), 0.2), w2); };
  const auto real = at::sin(at::arange(36, at::kFloat)).reshape({2, 2, 3, 3});
  const auto fake = at::cos(at::arange(36, at::kFloat)).reshape({2, 2, 3, 3});
  const auto gp = gradient_penalty(D, real, fake, t({0.25f, 0.75f}));
  EXPECT_NEAR(gp.item<double>(), 2.8135423987824444, 1e-5);
  // create_graph: the penalty trains the critic.
  gp.backward();
  EXPECT_NEAR(w1.grad().sum().item<double>(), 4.917105436889068, 1e-4);
  EXPECT_NEAR(w1.grad()[0][0][0][0].item<double>(), 3.1514624264191395, 1e-4);
  const double dw2[] = {7.316968267842155, 5.14793890521266, -1.1108434790113426, -5.011212565190798};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(w2.grad().flatten()[i].item<double>(), dw2[i], 1e-4) << i;
  EXPECT_THROW(gradient_penalty(D, real, fake.narrow(2, 0, 2), t({0.5f, 0.5f})), std::invalid_argument);
}

// A critic whose input gradient has norm 1 everywhere pays nothing (up to the 1e-16 guard).
TEST(Losses, GradientPenaltyIsZeroForUnitGradients) {
  // d/dx of sum(x) / 2 is 1/2 in each of a sample's 4 entries: norm 1.
  const auto D = [](const at::Tensor& x) { return x.sum({1, 2, 3}) / 2.0; };
  const auto real = at::ones({3, 1, 2, 2}), fake = at::zeros({3, 1, 2, 2});
  EXPECT_NEAR(gradient_penalty(D, real, fake, t({0.1f, 0.5f, 0.9f})).item<double>(), 0.0, 1e-10);
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
