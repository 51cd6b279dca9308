#include "trainer/train/checkpoint.h"
#include "trainer/train/cycle-gan.h"

#include "tests/trainer/trainer-helpers.h"

#include <torch/torch.h>

#include <filesystem>

namespace cg {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

TrainOptions tiny() {
  TrainOptions o;
  o.netG = "resnet_1blocks";
  o.ngf = 4;
  o.ndf = 4;
  o.pool_size = 3;
  return o;
}

void expect_same_parameters(torch::nn::Module& a, torch::nn::Module& b) {
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& item : pa) EXPECT_TRUE(item.value().equal(pb[item.key()])) << item.key();
}

TEST(Checkpoint, RoundTripContinuesBitwise) {
  torch::set_num_threads(1);
  TempDir d;
  const auto o = tiny();
  torch::manual_seed(1);
  CycleGan a(o, torch::kCPU, 1);
  auto A = torch::rand({1, 3, 32, 32}) * 2 - 1, B = torch::rand({1, 3, 32, 32}) * 2 - 1;
  for (int i = 0; i < 5; ++i) a.step(A, B);  // fills the pool (3) and starts swapping
  TrainState s;
  s.epoch = 3;
  s.epoch_iter = 2;
  s.total_iters = 5;
  s.seed = 1;
  save_checkpoint(d / "c.pt", a, s, o);

  torch::manual_seed(999);  // a different initialisation, all of it overwritten by the load
  CycleGan b(o, torch::kCPU, 77);
  const auto info = load_checkpoint(d / "c.pt", b);
  EXPECT_EQ(info.state.epoch, 3);
  EXPECT_EQ(info.state.epoch_iter, 2);
  EXPECT_EQ(info.state.total_iters, 5);
  EXPECT_EQ(info.options.at("ngf"), "4");
  ASSERT_EQ(b.pool_A.images().size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const auto la = a.step(A, B), lb = b.step(A, B);
    EXPECT_EQ(la.values, lb.values) << "step " << i;
  }
  expect_same_parameters(*a.G_A, *b.G_A);
  expect_same_parameters(*a.G_B, *b.G_B);
  expect_same_parameters(*a.D_A, *b.D_A);
  expect_same_parameters(*a.D_B, *b.D_B);
}

TEST(Checkpoint, ErrorsNameTheFile) {
  TempDir d;
  std::ofstream(d / "junk.pt") << "not a checkpoint";
  for (const std::string& f : {d / "junk.pt", d / "missing.pt"}) {
    try {
      read_checkpoint_info(f);
      FAIL() << "no error for " << f;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  }
}

TEST(Checkpoint, UnwritableFolderLeavesNoFileAndThrows) {
  TempDir d;
  const auto o = tiny();
  torch::manual_seed(1);
  CycleGan m(o, torch::kCPU, 1);
  EXPECT_THROW(save_checkpoint(d / "no/such/dir/c.pt", m, TrainState{}, o), Error);
}

// The official init types, checked on D_A's first conv (3 -> 64 channels, 4x4: fan_in 48,
// fan_out 1024, 3072 weights).
TEST(CycleGanInit, OfficialInitTypes) {
  auto first_conv = [](const std::string& type) {
    TrainOptions o;
    o.netG = "resnet_1blocks";
    o.ngf = 4;
    o.init_type = type;
    torch::manual_seed(5);
    CycleGan m(o, torch::kCPU, 5);
    EXPECT_EQ(m.D_A->named_parameters()["model.0.bias"].abs().max().item<double>(), 0.0);
    return m.D_A->named_parameters()["model.0.weight"].detach().clone();
  };
  EXPECT_NEAR(first_conv("normal").std().item<double>(), 0.02, 0.02 * 0.05);
  EXPECT_NEAR(first_conv("xavier").std().item<double>(), 0.02 * std::sqrt(2.0 / (48 + 1024)),
              0.02 * std::sqrt(2.0 / 1072) * 0.05);
  EXPECT_NEAR(first_conv("kaiming").std().item<double>(), std::sqrt(2.0 / 48), std::sqrt(2.0 / 48) * 0.05);
  const auto w = first_conv("orthogonal").view({64, 48});
  EXPECT_TRUE(torch::allclose(w.t().mm(w), torch::eye(48) * (0.02 * 0.02), 1e-4, 1e-7));
}

}  // namespace
}  // namespace cg
