// pix2pix: the aligned dataset (halves, shared augmentation, direction, determinism, sharding, bad
// input) and the model's losses against values computed by hand.
#include "trainer/data/aligned-dataset.h"
#include "trainer/data/image-io.h"
#include "trainer/train/options.h"
#include "trainer/train/pix2pix.h"

#include "tests/test-helpers.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

namespace cg {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

cv::Mat noise_image(int w, int h, int seed) {
  cv::Mat m(h, w, CV_8UC3);
  cv::RNG rng(static_cast<uint64_t>(seed));
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

cv::Mat side_by_side(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat ab;
  cv::hconcat(a, b, ab);
  return ab;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no Error thrown)";
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

// DATAROOT/train of `n` AB images W x H per half; B = `b_of(A)`.
struct AlignedFolder {
  TempDir dir;
  std::vector<cv::Mat> A, B;
  AlignedFolder(int n, int w, int h, const std::function<cv::Mat(const cv::Mat&)>& b_of) {
    fs::create_directories(dir.path / "train");
    for (int i = 0; i < n; ++i) {
      A.push_back(noise_image(w, h, i + 1));
      B.push_back(b_of(A.back()));
      write_rgb(dir / ("train/" + std::to_string(i) + ".png"), side_by_side(A.back(), B.back()));
    }
  }
  DataOptions options(const std::string& mode = "crop", int64_t load = 24, int64_t crop = 16) const {
    DataOptions o;
    o.dataroot = dir.path.string();
    o.preprocess = {parse_preprocess_mode(mode), load, crop, true};
    return o;
  }
};

cv::Mat inverted(const cv::Mat& a) { return cv::Scalar(255, 255, 255) - a; }

TEST(AlignedSplit, HalvesAreExact) {
  const cv::Mat a = noise_image(5, 4, 1), b = noise_image(5, 4, 2);
  const auto [l, r] = split_aligned(side_by_side(a, b), "x.png");
  EXPECT_EQ(cv::norm(l, a, cv::NORM_INF), 0);
  EXPECT_EQ(cv::norm(r, b, cv::NORM_INF), 0);
  // An odd width: both halves floor(W / 2) wide, the last column dropped.
  cv::Mat odd;
  cv::hconcat(side_by_side(a, b), noise_image(1, 4, 3), odd);
  const auto [l2, r2] = split_aligned(odd, "odd.png");
  EXPECT_EQ(l2.cols, 5);
  EXPECT_EQ(r2.cols, 5);
  EXPECT_EQ(cv::norm(r2, b, cv::NORM_INF), 0);
  const std::string m = message_of([] { split_aligned(cv::Mat(4, 1, CV_8UC3), "thin.png"); });
  EXPECT_TRUE(contains(m, "thin.png")) << m;
  EXPECT_TRUE(contains(m, "too narrow")) << m;
}

// Every item of every batch: B is exactly the inverse of A, so both halves took the same crop
// offset and the same flip; and over the epochs the crops and flips do vary.
TEST(AlignedDataset, OneCropAndFlipForBothHalves) {
  const AlignedFolder f(5, 24, 20, inverted);
  for (const char* mode : {"crop", "resize_and_crop"}) {
    DataOptions o = f.options(mode);
    o.batch_size = 2;
    if (std::string(mode) == "resize_and_crop") {
      // Resampling does not commute exactly with inversion: equal halves instead.
      const AlignedFolder same(5, 24, 20, [](const cv::Mat& a) { return a.clone(); });
      DataOptions s = same.options(mode, 28, 16);
      s.batch_size = 2;
      AlignedDataset data(s);
      for (int epoch = 1; epoch <= 3; ++epoch)
        for (int64_t i = 0; i < data.batches_per_epoch(); ++i) {
          const Batch b = data.batch(9, epoch, i);
          EXPECT_TRUE(b.A.equal(b.B)) << mode << " epoch " << epoch << " batch " << i;
          EXPECT_EQ(b.A.size(3), 16);
        }
      continue;
    }
    AlignedDataset data(o);
    EXPECT_EQ(data.size(), 5);
    EXPECT_EQ(data.batches_per_epoch(), 3);
    std::set<std::string> views;  // of file 0's A across epochs
    for (int epoch = 1; epoch <= 8; ++epoch)
      for (int64_t i = 0; i < data.batches_per_epoch(); ++i) {
        const Batch b = data.batch(9, epoch, i);
        ASSERT_EQ(b.A.sizes(), b.B.sizes());
        EXPECT_EQ(b.A.size(2), 16);
        EXPECT_TRUE(at::allclose(b.B, -b.A, 0, 1e-6)) << mode << " epoch " << epoch << " batch " << i;
        EXPECT_EQ(b.paths_A, b.paths_B);
        for (int64_t k = 0; k < b.A.size(0); ++k)
          if (fs::path(b.paths_A[static_cast<size_t>(k)]).filename() == "0.png")
            views.insert(std::to_string(b.A[k].sum().item<double>()) + std::to_string(b.A[k][0][0][0].item<float>()));
      }
    EXPECT_GT(views.size(), 2u) << "the crop and flip should vary from epoch to epoch";
  }
}

TEST(AlignedDataset, BtoASwapsTheHalves) {
  const AlignedFolder f(3, 20, 20, inverted);
  DataOptions o = f.options();
  AlignedDataset ab(o);
  o.swap_domains = true;
  AlignedDataset ba(o);
  for (int64_t i = 0; i < 3; ++i) {
    const Batch x = ab.batch(4, 2, i), y = ba.batch(4, 2, i);
    EXPECT_TRUE(x.A.equal(y.B));
    EXPECT_TRUE(x.B.equal(y.A));
  }
  // Samples: the same A and B halves, swapped with BtoA.
  EXPECT_TRUE(ab.fixed_image(false, 0).equal(ba.fixed_image(true, 0)));
  EXPECT_TRUE(at::allclose(ab.fixed_image(true, 0), -ab.fixed_image(false, 0), 0, 1e-6));
}

TEST(AlignedDataset, DeterministicAndShardedLikeOneProcess) {
  const AlignedFolder f(7, 20, 20, inverted);
  DataOptions whole = f.options();
  whole.batch_size = 2;
  AlignedDataset one(whole);
  EXPECT_TRUE(one.batch(3, 1, 1).A.equal(one.batch(3, 1, 1).A));
  EXPECT_FALSE(one.batch(3, 1, 0).A.equal(one.batch(3, 2, 0).A));  // another epoch, another order
  // Two ranks of batch 1 see, batch by batch, the two items of the one process's batch of 2.
  for (int rank = 0; rank < 2; ++rank) {
    DataOptions r = f.options();
    r.rank = rank;
    r.ranks = 2;
    AlignedDataset shard(r);
    EXPECT_EQ(shard.batches_per_epoch(), 4);
    for (int64_t i = 0; i < 3; ++i) {
      const Batch b = shard.batch(3, 1, i), w = one.batch(3, 1, i);
      EXPECT_TRUE(b.A[0].equal(w.A[rank])) << "rank " << rank << " batch " << i;
      EXPECT_EQ(b.paths_A[0], w.paths_A[static_cast<size_t>(rank)]);
    }
  }
}

TEST(AlignedDataset, UnreadableSkippedAndCountedBadInputNamed) {
  const AlignedFolder f(3, 20, 20, inverted);
  std::ofstream(f.dir / "train/1.png") << "not a png";
  DataOptions o = f.options();
  o.serial_batches = true;
  AlignedDataset data(o);
  const Batch b = data.batch(1, 1, 1);  // item 1 is corrupt: item 2 takes its place
  EXPECT_EQ(fs::path(b.paths_A[0]).filename(), "2.png");
  ASSERT_EQ(data.problems().skipped.size(), 1u);
  EXPECT_TRUE(contains(data.problems().skipped[0], "1.png"));

  TempDir d;
  DataOptions m;
  m.dataroot = d.path.string();
  std::string msg = message_of([&] { AlignedDataset x(m); });
  EXPECT_TRUE(contains(msg, (d.path / "train").string()) && contains(msg, "no such folder")) << msg;
  fs::create_directories(d.path / "train");
  msg = message_of([&] { AlignedDataset x(m); });
  EXPECT_TRUE(contains(msg, "no images")) << msg;
  write_rgb(d / "train/thin.png", cv::Mat(8, 1, CV_8UC3, cv::Scalar(1, 2, 3)));
  AlignedDataset thin(m);
  msg = message_of([&] { thin.batch(1, 1, 0); });
  EXPECT_TRUE(contains(msg, "thin.png") && contains(msg, "too narrow")) << msg;
}

// A small pix2pix for the loss tests.
TrainOptions tiny_pix2pix_options() {
  TrainOptions o;
  o.model = "pix2pix";
  o.netG = "resnet_1blocks";
  o.ngf = 4;
  o.ndf = 4;
  o.norm = "batch";
  o.gan_mode = "vanilla";
  o.no_dropout = true;  // a deterministic G, so the hand computation can repeat it
  o.pool_size = 0;
  o.lambda_L1 = 100;
  return o;
}

TEST(Pix2PixLosses, L1OnFixedTensors) {
  const auto fake = torch::tensor({1.0f, -2.0f, 0.5f, 0.0f}), real = torch::tensor({0.0f, 0.0f, 0.5f, 1.0f});
  // 100 * (1 + 2 + 0 + 1) / 4
  EXPECT_FLOAT_EQ(pix2pix_l1(fake, real, 100).item<float>(), 100.0f);
}

// With lr 0 nothing moves, so one step's four losses must be what D and G give by hand: vanilla
// GAN = binary cross-entropy on logits, mean softplus(-x) against real and softplus(x) against
// fake, D conditioned on cat(A, .) along the channels.
TEST(Pix2PixLosses, StepMatchesHandComputation) {
  torch::manual_seed(3);
  TrainOptions o = tiny_pix2pix_options();
  o.lr = 1e-30;  // Adam's steps of ~lr leave float32 weights exactly as they are
  Pix2Pix m(o, torch::kCPU, 1);
  EXPECT_EQ(m.loss_names(), (std::vector<std::string>{"G_GAN", "G_L1", "D_real", "D_fake"}));
  EXPECT_EQ(m.D->parameters()[0].size(1), 6);  // input_nc + output_nc
  const at::Tensor A = torch::rand({2, 3, 32, 32}) * 2 - 1, B = torch::rand({2, 3, 32, 32}) * 2 - 1;
  at::Tensor fake, pred_real, pred_fake;
  {
    torch::NoGradGuard no_grad;
    fake = m.G->forward_training(A);
    pred_real = m.D->forward(torch::cat({A, B}, 1));
    pred_fake = m.D->forward(torch::cat({A, fake}, 1));
  }
  const Losses l = m.step(A, B).read();
  const double g_gan = torch::softplus(-pred_fake).mean().item<double>();
  const double g_l1 = 100 * (fake - B).abs().mean().item<double>();
  const double d_real = torch::softplus(-pred_real).mean().item<double>();
  const double d_fake = torch::softplus(pred_fake).mean().item<double>();
  EXPECT_NEAR(l.values[0], g_gan, 1e-5);
  EXPECT_NEAR(l.values[1], g_l1, 1e-4);
  EXPECT_NEAR(l.values[2], d_real, 1e-5);
  EXPECT_NEAR(l.values[3], d_fake, 1e-5);
  // A fresh D is near chance: each GAN term is near log 2.
  EXPECT_NEAR(l.values[2], std::log(2.0), 0.2);
}

TEST(Pix2PixLosses, ExportIsTheAToBGeneratorWithFrameStatistics) {
  torch::manual_seed(1);
  TrainOptions o = tiny_pix2pix_options();
  o.direction = "BtoA";
  Pix2Pix m(o, torch::kCPU, 1);
  auto e = m.exports();
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(std::string(e[0].file), "G.pt");
  EXPECT_EQ(e[0].metadata.direction, "BtoA");
  EXPECT_TRUE(e[0].metadata.batch_stats);
  EXPECT_EQ(e[0].metadata.generator.norm, Norm::kBatch);
  o.gan_mode = "wgangp";
  EXPECT_TRUE(contains(message_of([&] { Pix2Pix w(o, torch::kCPU, 1); }), "wgangp"));
}

// Samples leave no trace: batch-norm statistics and the generator dropout draws from are as before.
TEST(Pix2PixLosses, SamplesDoNotDisturbTraining) {
  torch::manual_seed(5);
  TrainOptions o = tiny_pix2pix_options();
  o.no_dropout = false;
  o.netG = "unet_128";
  Pix2Pix m(o, torch::kCPU, 1);
  const at::Tensor A = torch::rand({1, 3, 128, 128}), B = torch::rand({1, 3, 128, 128});
  std::vector<at::Tensor> before;
  for (const auto& b : m.G->buffers()) before.push_back(b.clone());
  const at::Tensor rng_before = at::detail::getDefaultCPUGenerator().get_state();
  m.translate(A, B);
  EXPECT_TRUE(at::detail::getDefaultCPUGenerator().get_state().equal(rng_before));
  const auto after = m.G->buffers();
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(after[i].equal(before[i]));
}

}  // namespace
}  // namespace cg
