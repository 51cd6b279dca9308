#include "trainer/train/checkpoint.h"
#include "trainer/train/cycle-gan.h"

#include "tests/trainer/trainer-helpers.h"

#include <torch/cuda.h>
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

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
    const auto la = a.step(A, B).read(), lb = b.step(A, B).read();
    EXPECT_EQ(la.values, lb.values) << "step " << i;
  }
  expect_same_parameters(*a.G_A, *b.G_A);
  expect_same_parameters(*a.G_B, *b.G_B);
  expect_same_parameters(*a.D_A, *b.D_A);
  expect_same_parameters(*a.D_B, *b.D_B);
}

// Rewrites checkpoint `from` into `to`. "cuda": every storage claims to live on cuda:0, as in a
// checkpoint saved during CUDA training (data.pkl names each storage's location in its persistent
// id; the one 'cpu' string is memoised and shared by all). "no-tensors": the tensor records are
// left out. "cuda-rng": the metadata (a pickled string, 'X' and its 4-byte length before it)
// gains the CUDA generator's state a GPU run records.
void rewrite(const std::string& python, const std::string& from, const std::string& to, const std::string& how,
             const TempDir& d) {
  const std::string script = d / "rewrite.py";
  std::ofstream(script) << "import sys, zipfile\n"
                           "src, dst, how = sys.argv[1:4]\n"
                           "old, new = b'X\\x03\\x00\\x00\\x00cpu', b'X\\x06\\x00\\x00\\x00cuda:0'\n"
                           "with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, 'w') as zout:\n"
                           "    for info in zin.infolist():\n"
                           "        data = zin.read(info.filename)\n"
                           "        if how == 'cuda' and info.filename.endswith('/data.pkl'):\n"
                           "            assert data.count(old) == 1, data.count(old)\n"
                           "            data = data.replace(old, new)\n"
                           "        if how == 'cuda-rng' and info.filename.endswith('/data.pkl'):\n"
                           "            i = data.index(b'{\"format\"')\n"
                           "            n = int.from_bytes(data[i - 4:i], 'little')\n"
                           "            meta = data[i:i + n - 1] + b',\"torch_cuda_rng\":\"' + b'00' * 16 + b'\"}'\n"
                           "            data = data[:i - 4] + len(meta).to_bytes(4, 'little') + meta + data[i + n:]\n"
                           "        if how == 'no-tensors' and '/data/' in info.filename:\n"
                           "            continue\n"
                           "        zout.writestr(info.filename, data)\n";
  const std::string cmd = python + " " + script + " " + from + " " + to + " " + how + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr) << cmd;
  std::string out;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  ASSERT_EQ(::pclose(p), 0) << out;
}

// A checkpoint written on a GPU resumes on a machine without one (--continue-train --device cpu):
// its tensors come to the CPU, and the CUDA generator's state it records is not read.
TEST(Checkpoint, SavedOnCudaLoadsWithoutCuda) {
  const char* python = std::getenv("CG_PYTHON");
  if (!python) GTEST_SKIP() << "CG_PYTHON not set (run through meson test)";
  if (torch::cuda::is_available()) GTEST_SKIP() << "needs a machine where LibTorch sees no CUDA";
  torch::set_num_threads(1);
  TempDir d;
  const auto o = tiny();
  torch::manual_seed(1);
  CycleGan a(o, torch::kCPU, 1);
  auto A = torch::rand({1, 3, 32, 32}) * 2 - 1, B = torch::rand({1, 3, 32, 32}) * 2 - 1;
  for (int i = 0; i < 4; ++i) a.step(A, B);
  TrainState s;
  s.total_iters = 4;
  save_checkpoint(d / "cpu.pt", a, s, o);
  rewrite(python, d / "cpu.pt", d / "cuda.pt", "cuda", d);
  // The rewrite took: LibTorch, left to itself, puts the tensors back on CUDA and fails here.
  torch::serialize::InputArchive plain;
  EXPECT_THROW(plain.load_from(d / "cuda.pt"), c10::Error);
  rewrite(python, d / "cuda.pt", d / "gpu.pt", "cuda-rng", d);
  std::stringstream bytes;
  bytes << std::ifstream(d / "gpu.pt", std::ios::binary).rdbuf();
  ASSERT_NE(bytes.str().find("\"torch_cuda_rng\":\""), std::string::npos);
  const auto after_save = torch::rand({8});

  EXPECT_EQ(read_checkpoint_info(d / "gpu.pt").state.total_iters, 4);
  torch::manual_seed(999);
  CycleGan b(o, torch::kCPU, 77), c(o, torch::kCPU, 78);
  EXPECT_EQ(load_checkpoint(d / "gpu.pt", b).state.total_iters, 4);
  EXPECT_TRUE(torch::rand({8}).equal(after_save));
  load_checkpoint(d / "cpu.pt", c);
  expect_same_parameters(*a.G_A, *b.G_A);
  expect_same_parameters(*a.D_B, *b.D_B);
  ASSERT_EQ(b.pool_A.images().size(), 3u);
  EXPECT_TRUE(b.pool_A.images()[0].device().is_cpu());
  // Optimizer state and pools came along: the next step is the same as from the CPU file.
  EXPECT_EQ(b.step(A, B).read().values, c.step(A, B).read().values);
  expect_same_parameters(*b.G_B, *c.G_B);
}

// LibTorch's generators continue where they were: the CPU one always, the CUDA one (pix2pix's
// dropout) when the run is on CUDA.
TEST(Checkpoint, RestoresLibTorchsGenerators) {
  TempDir d;
  const auto o = tiny();
  std::vector<torch::Device> devices = {torch::kCPU};
  if (torch::cuda::is_available()) devices.push_back(torch::Device(torch::kCUDA, 0));
  for (const auto& device : devices) {
    torch::manual_seed(1);
    CycleGan a(o, device, 1);
    save_checkpoint(d / "c.pt", a, TrainState{}, o);
    const auto cpu = torch::rand({8}), here = torch::rand({8}, torch::TensorOptions(device));
    torch::manual_seed(2);
    if (device.is_cuda()) torch::cuda::manual_seed_all(2);
    CycleGan b(o, device, 1);
    load_checkpoint(d / "c.pt", b);
    EXPECT_TRUE(torch::rand({8}).equal(cpu)) << device;
    EXPECT_TRUE(torch::rand({8}, torch::TensorOptions(device)).equal(here)) << device;
  }
}

// --continue-train reads the options before building anything: from the metadata alone, not
// the hundreds of megabytes of tensors beside it.
TEST(Checkpoint, InfoReadsNoTensors) {
  const char* python = std::getenv("CG_PYTHON");
  if (!python) GTEST_SKIP() << "CG_PYTHON not set (run through meson test)";
  TempDir d;
  const auto o = tiny();
  torch::manual_seed(1);
  CycleGan m(o, torch::kCPU, 1);
  TrainState s;
  s.epoch = 4;
  save_checkpoint(d / "c.pt", m, s, o);
  rewrite(python, d / "c.pt", d / "meta-only.pt", "no-tensors", d);
  const auto info = read_checkpoint_info(d / "meta-only.pt");
  EXPECT_EQ(info.state.epoch, 4);
  EXPECT_EQ(info.options.at("ngf"), "4");
  EXPECT_THROW(load_checkpoint(d / "meta-only.pt", m), Error);  // the tensors are really gone
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

// As the other ranks of a distributed run get rank 0's checkpoint: its bytes, named by rank 0's path.
TEST(Checkpoint, ReadsFromBytesAndNamesWhereTheyCameFrom) {
  TempDir d;
  const auto o = tiny();
  torch::manual_seed(1);
  CycleGan m(o, torch::kCPU, 1);
  TrainState s;
  s.total_iters = 6;
  save_checkpoint(d / "c.pt", m, s, o);
  CheckpointFile file = read_checkpoint_file(d / "c.pt");
  EXPECT_EQ(file.bytes.size(), fs::file_size(d / "c.pt"));
  file.path = "rank 0's /elsewhere/c.pt";
  fs::remove(d / "c.pt");  // nothing is read from the disk any more
  EXPECT_EQ(read_checkpoint_info(file).state.total_iters, 6);
  EXPECT_EQ(load_checkpoint(file, m).state.total_iters, 6);
  file.bytes.resize(file.bytes.size() / 2);
  try {
    load_checkpoint(file, m);
    FAIL() << "a truncated checkpoint loaded";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0's /elsewhere/c.pt: "), std::string::npos) << e.what();
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
