// Mixed precision on the CPU: autocast scopes, bf16 training steps against fp32, and the fp16
// loss scaler's update rule on hand-made gradients.
#include "trainer/train/cycle-gan.h"
#include "trainer/train/mixed-precision.h"

#include <ATen/autocast_mode.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace cg {
namespace {

TEST(Autocast, ScopeSetsAndRestores) {
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  {
    AutocastScope outer(at::kCPU, at::kBFloat16);
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
    EXPECT_EQ(at::autocast::get_autocast_dtype(at::kCPU), at::kBFloat16);
    const auto y = at::conv2d(torch::randn({1, 3, 8, 8}), torch::randn({4, 3, 3, 3}));
    EXPECT_EQ(y.scalar_type(), at::kBFloat16);
    { AutocastScope off(at::kCPU, std::nullopt); }
    EXPECT_TRUE(at::autocast::is_autocast_enabled(at::kCPU));
  }
  EXPECT_FALSE(at::autocast::is_autocast_enabled(at::kCPU));
  EXPECT_EQ(at::conv2d(torch::randn({1, 3, 8, 8}), torch::randn({4, 3, 3, 3})).scalar_type(), at::kFloat);
}

struct Scaled {
  at::Tensor p = torch::zeros({3}, torch::requires_grad());
  torch::optim::SGD opt{{p}, torch::optim::SGDOptions(1.0)};

  // One step with gradient `g` times the scaler's current scale, as backward on scale(loss) gives.
  bool step(LossScaler& s, std::vector<float> g) {
    p.mutable_grad() = s.scale(torch::tensor(g));
    return s.step(opt);
  }
};

TEST(LossScaler, UnscalesAndStepsOnFiniteGradients) {
  LossScaler s(true, torch::kCPU);
  Scaled m;
  EXPECT_TRUE(m.step(s, {1, -2, 0.5}));
  EXPECT_TRUE(m.p.grad().equal(torch::tensor({1.f, -2.f, 0.5f})));
  EXPECT_TRUE(m.p.detach().equal(torch::tensor({-1.f, 2.f, -0.5f})));  // SGD lr 1 on the true gradient
  s.update();
  EXPECT_EQ(s.state().scale, 65536.0);
  EXPECT_EQ(s.state().growth_tracker, 1);
}

TEST(LossScaler, GrowsAfterIntervalAndBacksOffOnInfOrNan) {
  LossScaler s(true, torch::kCPU, /*growth_interval=*/3);
  Scaled m;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(m.step(s, {1, 1, 1}));
    s.update();
  }
  EXPECT_EQ(s.state().scale, 131072.0);
  EXPECT_EQ(s.state().growth_tracker, 0);
  const auto before = m.p.detach().clone();
  EXPECT_FALSE(m.step(s, {1, INFINITY, 1}));
  EXPECT_TRUE(m.p.detach().equal(before));  // the step is skipped
  s.update();
  EXPECT_EQ(s.state().scale, 65536.0);
  EXPECT_EQ(s.state().growth_tracker, 0);
  EXPECT_TRUE(m.step(s, {1, 1, 1}));
  s.update();
  EXPECT_EQ(s.state().growth_tracker, 1);
  EXPECT_FALSE(m.step(s, {NAN, 1, 1}));
  s.update();
  EXPECT_EQ(s.state().scale, 32768.0);
  EXPECT_EQ(s.state().growth_tracker, 0);
}

TEST(LossScaler, StateRestoresAndDisabledPassesThrough) {
  LossScaler s(true, torch::kCPU);
  s.restore({1024.0, 7});
  EXPECT_EQ(s.state().scale, 1024.0);
  EXPECT_EQ(s.state().growth_tracker, 7);
  EXPECT_EQ(s.scale(torch::tensor(2.f)).item<float>(), 2048.f);
  LossScaler off(false, torch::kCPU);
  const auto loss = torch::tensor(2.f);
  EXPECT_TRUE(off.scale(loss).is_same(loss));
  Scaled m;
  m.p.mutable_grad() = torch::tensor({INFINITY, 1.f, 1.f});
  EXPECT_TRUE(off.step(m.opt));  // no checks without scaling, as in fp32 training
}

TrainOptions tiny(const std::string& amp) {
  TrainOptions o;
  o.netG = "resnet_2blocks";
  o.ngf = 8;
  o.ndf = 8;
  o.pool_size = 0;
  o.amp = amp;
  return o;
}

std::pair<at::Tensor, at::Tensor> images() {
  torch::manual_seed(21);
  return {torch::rand({1, 3, 32, 32}) * 2 - 1, torch::rand({1, 3, 32, 32}) * 2 - 1};
}

TEST(MixedPrecision, Bf16StepIsCloseToFp32) {
  torch::set_num_threads(1);
  const auto [A, B] = images();
  torch::manual_seed(5);
  CycleGan fp32(tiny("off"), torch::kCPU, 5);
  torch::manual_seed(5);
  CycleGan bf16(tiny("bf16"), torch::kCPU, 5);
  const auto l32 = fp32.step(A, B).read(), l16 = bf16.step(A, B).read();
  ASSERT_EQ(l32.names, fp32.loss_names());
  ASSERT_EQ(l32.values.size(), l32.names.size());
  for (size_t i = 0; i < l32.values.size(); ++i) {
    EXPECT_TRUE(std::isfinite(l16.values[i])) << l32.names[i];
    EXPECT_NEAR(l16.values[i], l32.values[i], 0.03 * std::abs(l32.values[i])) << l32.names[i];
  }
  // Not the fp32 step under another name: bf16 arithmetic did run.
  EXPECT_NE(l16.values, l32.values);
  for (const auto& p : bf16.G_A->parameters()) EXPECT_EQ(p.scalar_type(), at::kFloat);  // fp32 master weights
}

// Several steps on one pair: the cycle losses fall with bf16 as they do with fp32 (a large
// lambda makes them dominate the adversarial terms, which pull the other way early on).
TEST(MixedPrecision, Bf16TrainingReducesTheCycleLoss) {
  torch::set_num_threads(1);
  const auto [A, B] = images();
  auto fall = [&](const char* amp) {
    auto o = tiny(amp);
    o.lr = 1e-3;
    o.lambda_A = o.lambda_B = 50;
    torch::manual_seed(5);
    CycleGan m(o, torch::kCPU, 5);
    EXPECT_EQ(m.loss_names()[2], "cycle_A");
    EXPECT_EQ(m.loss_names()[6], "cycle_B");
    auto cycle = [](const Losses& l) { return l.values[2] + l.values[6]; };
    const double first = cycle(m.step(A, B).read());
    double last = first;
    for (int i = 0; i < 20; ++i) last = cycle(m.step(A, B).read());
    return last / first;
  };
  const double fp32 = fall("off"), bf16 = fall("bf16");
  EXPECT_LT(fp32, 0.85);
  EXPECT_LT(bf16, 0.85);
  EXPECT_NEAR(bf16, fp32, 0.05);
}

TEST(MixedPrecision, Fp16IsRefusedOnTheCpu) {
  try {
    CycleGan m(tiny("fp16"), torch::kCPU, 1);
    FAIL() << "built";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kUsage);
    EXPECT_NE(std::string(e.what()).find("--amp fp16"), std::string::npos) << e.what();
  }
}

// What the training loop logs: sums on the device equal the host sums of the values read.
TEST(DeviceLosses, SumsMatchHostSums) {
  const std::vector<std::string> names = {"a", "b", "c", "d", "e", "f", "g", "h"};
  DeviceLosses sum;
  std::vector<double> host(names.size(), 0.0);
  for (int i = 0; i < 3; ++i) {
    const DeviceLosses l{torch::rand({8}, torch::kDouble), names};
    sum += l;
    const auto v = l.read();
    ASSERT_EQ(v.values.size(), host.size());
    for (size_t k = 0; k < host.size(); ++k) host[k] += v.values[k];
  }
  const auto total = sum.read();
  EXPECT_EQ(total.values, host);
  EXPECT_EQ(total.names, names);
}

}  // namespace
}  // namespace cg
