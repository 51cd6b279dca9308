// --lambda-temporal: the random motions its second frames are made with, and its loss.
#include "trainer/train/cycle-gan.h"
#include "trainer/train/losses.h"
#include "trainer/train/temporal-consistency.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

namespace cg {
namespace {

// Where the motion reads each pixel from, in pixels: grid_sample's units undone.
at::Tensor source_x(const RandomMotion& m, int64_t w) { return ((m.grid.select(3, 0) + 1) * w - 1) / 2; }
at::Tensor source_y(const RandomMotion& m, int64_t h) { return ((m.grid.select(3, 1) + 1) * h - 1) / 2; }

// Moving an image whose value is its own column (or row) index gives, at every pixel read from
// inside the image, the column (row) the motion says it reads from: move() reads where grid says,
// and bilinearly.
TEST(RandomMotion, MovesTheImageAsItsGridSays) {
  Rng rng(5);
  const int64_t h = 48, w = 80;
  const at::Tensor columns = at::arange(w, at::kFloat).view({1, 1, 1, w}).expand({3, 1, h, w}).contiguous();
  const at::Tensor rows = at::arange(h, at::kFloat).view({1, 1, h, 1}).expand({3, 1, h, w}).contiguous();
  const RandomMotion m = draw_motion(rng, columns);
  const at::Tensor inside = m.valid.squeeze(1) > 0.5;
  ASSERT_GT(inside.sum().item<int64_t>(), h * w);  // most of the three images
  ASSERT_LT(inside.sum().item<int64_t>(), 3 * h * w) << "a motion this size moves some pixels out";
  const at::Tensor mx = m.move(columns).squeeze(1), my = m.move(rows).squeeze(1);
  EXPECT_LT((mx - source_x(m, w)).abs().masked_select(inside).max().item<float>(), 1e-3);
  EXPECT_LT((my - source_y(m, h)).abs().masked_select(inside).max().item<float>(), 1e-3);
  // valid marks exactly the pixels read from inside.
  const at::Tensor sx = source_x(m, w), sy = source_y(m, h);
  const at::Tensor expected = (sx >= -1e-4) & (sx <= w - 1 + 1e-4) & (sy >= -1e-4) & (sy <= h - 1 + 1e-4);
  EXPECT_LE((expected != inside).sum().item<int64_t>(), 3) << "only pixels on the edge within rounding may differ";
}

// The motion has the documented size: at the image's corners, which are control points, the
// displacement is the grid's Gaussian (sd kMotionSigma) plus the uniform shift (sd kMotionShift /
// sqrt 3), so about 9.9 px per axis; between them it is smooth; the noise has sd kMotionNoise.
TEST(RandomMotion, SizeSmoothnessAndNoise) {
  Rng rng(11);
  const int64_t n = 200, h = 64, w = 96;
  const at::Tensor images = at::zeros({n, 3, h, w});
  const RandomMotion m = draw_motion(rng, images);
  const at::Tensor dx = source_x(m, w) - at::arange(w, at::kFloat).view({1, 1, w});
  const at::Tensor dy = source_y(m, h) - at::arange(h, at::kFloat).view({1, h, 1});
  const at::Tensor corners = at::cat({dx.select(1, 0).select(1, 0), dy.select(1, h - 1).select(1, w - 1)});
  const double expected_sd = std::sqrt(kMotionSigma * kMotionSigma + kMotionShift * kMotionShift / 3);
  // 400 draws: the sample sd is within 4 standard errors (sd / sqrt(2 * 400)) of the true one.
  EXPECT_NEAR(corners.std().item<double>(), expected_sd, 4 * expected_sd / std::sqrt(800.0));
  EXPECT_NEAR(corners.mean().item<double>(), 0.0, 4 * expected_sd / std::sqrt(400.0));
  // Smooth: neighbouring pixels move alike (the grid's points are 64 px apart).
  EXPECT_LT((dx.narrow(2, 1, w - 1) - dx.narrow(2, 0, w - 1)).abs().max().item<float>(), 1.5);
  EXPECT_LT((dy.narrow(1, 1, h - 1) - dy.narrow(1, 0, h - 1)).abs().max().item<float>(), 1.5);
  EXPECT_NEAR(m.noise.std().item<double>(), kMotionNoise, 0.02 * kMotionNoise);
  EXPECT_NEAR(m.noise.mean().item<double>(), 0.0, 0.02 * kMotionNoise);
  EXPECT_EQ(m.noise.sizes(), images.sizes());
}

// Every draw comes from the Rng: a copy of its state draws the same motion and noise, bit for bit
// (what a resumed run relies on), and the next draw differs.
TEST(RandomMotion, DrawnFromTheGeneratorAlone) {
  Rng rng(3);
  const at::Tensor images = at::zeros({2, 3, 32, 40});
  Rng copy;
  copy.set_state(rng.state());
  const RandomMotion a = draw_motion(rng, images);
  torch::manual_seed(1234);  // LibTorch's own generator plays no part
  const RandomMotion b = draw_motion(copy, images);
  EXPECT_TRUE(a.grid.equal(b.grid));
  EXPECT_TRUE(a.valid.equal(b.valid));
  EXPECT_TRUE(a.noise.equal(b.noise));
  const RandomMotion c = draw_motion(rng, images);
  EXPECT_FALSE(a.grid.equal(c.grid));
  EXPECT_FALSE(a.noise.equal(c.noise));
}

// The loss is zero for a generator that moves with its input (an affine map of each pixel's
// colour, which commutes with bilinear sampling), and for one that
// does not (a fixed pattern added) it is lambda times the mean difference over the valid pixels
// alone; its gradient reaches both outputs.
TEST(TemporalLoss, ZeroForAnEquivariantMapAndMaskedOtherwise) {
  Rng rng(8);
  const at::Tensor x = at::rand({2, 3, 40, 40}) * 2 - 1;
  RandomMotion m = draw_motion(rng, x);
  m.noise.zero_();
  const at::Tensor colour = at::tensor({0.5f, -0.25f, 0.1f}).view({1, 3, 1, 1});
  const auto g = [&](const at::Tensor& v) { return v * colour + 0.2; };
  EXPECT_NEAR(temporal_loss(g(m.second_frame(x)), m.move(g(x)), m.valid, 10.0).item<double>(), 0.0, 1e-5);

  const at::Tensor pattern = at::rand({1, 3, 40, 40});
  const auto h = [&](const at::Tensor& v) { return v + pattern; };
  at::Tensor second = h(m.second_frame(x)).detach().requires_grad_(true);
  at::Tensor moved = m.move(h(x)).detach().requires_grad_(true);
  const at::Tensor loss = temporal_loss(second, moved, m.valid, 10.0);
  const at::Tensor mask = m.valid.expand_as(second);
  const double expected =
      10.0 * ((m.move(pattern.expand_as(x)) - pattern).abs() * mask).sum().item<double>() / mask.sum().item<double>();
  EXPECT_GT(expected, 0.5);
  EXPECT_NEAR(loss.item<double>(), expected, 1e-4 * expected);
  // What lies outside the valid pixels does not count.
  const at::Tensor outside = (1 - mask) * 100;
  EXPECT_NEAR(temporal_loss(second + outside, moved, m.valid, 10.0).item<double>(), expected, 1e-4 * expected);
  loss.backward();
  EXPECT_GT(second.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(moved.grad().abs().sum().item<double>(), 0.0);
  EXPECT_EQ((second.grad() * (1 - mask)).abs().sum().item<double>(), 0.0);
}

TrainOptions tiny(double lambda_temporal) {
  TrainOptions o;
  o.netG = "resnet_1blocks";
  o.ngf = 4;
  o.ndf = 4;
  o.pool_size = 2;
  o.lambda_temporal = lambda_temporal;
  return o;
}

// Off (0, the default), a cycle_gan step is the official one: its losses and random generators
// are those it had before the option existed. On, each generator's term is logged and its
// generator saved; and the term changes the generators' update.
TEST(TemporalLoss, CycleGanLogsItOnlyWhenOn) {
  torch::set_num_threads(1);
  const at::Tensor A = at::rand({1, 3, 32, 32}) * 2 - 1, B = at::rand({1, 3, 32, 32}) * 2 - 1;
  torch::manual_seed(1);
  CycleGan off(tiny(0), torch::kCPU, 1);
  torch::manual_seed(1);
  CycleGan on(tiny(10), torch::kCPU, 1);
  EXPECT_EQ(off.loss_names().size(), 8u);
  EXPECT_EQ(off.rngs().size(), 1u);
  ASSERT_EQ(on.loss_names().size(), 10u);
  EXPECT_EQ(on.loss_names()[8], "temporal_A");
  EXPECT_EQ(on.loss_names()[9], "temporal_B");
  EXPECT_EQ(on.rngs().size(), 2u);
  const Losses lo = off.step(A, B).read(), ln = on.step(A, B).read();
  ASSERT_EQ(ln.values.size(), 10u);
  EXPECT_GT(ln.values[8], 0.0);
  EXPECT_GT(ln.values[9], 0.0);
  // The official terms are computed before the update, from the same weights: equal.
  for (size_t i : {1u, 2u, 3u, 5u, 6u, 7u}) EXPECT_EQ(lo.values[i], ln.values[i]) << lo.names[i];
  EXPECT_FALSE(off.G_A->parameters()[0].equal(on.G_A->parameters()[0]));
}

}  // namespace
}  // namespace cg
