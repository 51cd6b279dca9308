// The training iteration against an independent Python PyTorch implementation of the official
// cycle_gan update (tests/trainer/train_step_reference.py): same initial weights and inputs,
// two iterations, then the losses and all four networks' weights are compared there.
#include "trainer/train/cycle-gan.h"

#include "tests/test-helpers.h"

#include <gtest/gtest.h>
#include <torch/serialize.h>
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>

namespace cg {
namespace {

void write_dict(const std::string& path, const c10::Dict<std::string, at::Tensor>& d) {
  const auto bytes = torch::pickle_save(c10::IValue(d));
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void put_parameters(c10::Dict<std::string, at::Tensor>& d, const std::string& prefix, torch::nn::Module& net) {
  for (const auto& p : net.named_parameters()) d.insert(prefix + "." + p.key(), p.value().detach().clone());
}

TEST(TrainingStep, MatchesTheOfficialUpdateInPython) {
  const char* python = std::getenv("CG_PYTHON");
  const char* script = std::getenv("CG_TRAIN_STEP_REFERENCE");
  if (!python || !script) GTEST_SKIP() << "CG_PYTHON / CG_TRAIN_STEP_REFERENCE not set (run through meson test)";
  torch::set_num_threads(1);
  test::TempDir dir;
  TrainOptions o;
  o.netG = "resnet_2blocks";
  o.ngf = 4;
  o.ndf = 8;
  o.pool_size = 0;
  o.lambda_A = 10;
  o.lambda_B = 7;  // different from lambda_A, so swapped weights would show
  torch::manual_seed(11);
  CycleGan m(o, torch::kCPU, 11);
  const int steps = 2;
  c10::Dict<std::string, at::Tensor> init, after;
  for (const auto& [name, net] : {std::pair<const char*, torch::nn::Module*>{"G_A", m.G_A.get()},
                                  {"G_B", m.G_B.get()},
                                  {"D_A", m.D_A.get()},
                                  {"D_B", m.D_B.get()}})
    put_parameters(init, name, *net);
  const std::pair<const char*, double> cfg[] = {
      {"ngf", 4},       {"n_blocks", 2},    {"ndf", 8},
      {"lambda_A", 10}, {"lambda_B", 7},    {"lambda_identity", o.lambda_identity},
      {"lr", o.lr},     {"beta1", o.beta1}, {"steps", steps}};
  for (const auto& [k, v] : cfg) init.insert(std::string("cfg.") + k, torch::tensor(v, torch::kDouble));
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    auto A = torch::rand({1, 3, 32, 32}) * 2 - 1, B = torch::rand({1, 3, 32, 32}) * 2 - 1;
    init.insert("A." + std::to_string(s), A);
    init.insert("B." + std::to_string(s), B);
    const auto l = m.step(A, B).read();
    losses.insert(losses.end(), l.values.begin(), l.values.end());
  }
  for (const auto& [name, net] : {std::pair<const char*, torch::nn::Module*>{"G_A", m.G_A.get()},
                                  {"G_B", m.G_B.get()},
                                  {"D_A", m.D_A.get()},
                                  {"D_B", m.D_B.get()}})
    put_parameters(after, name, *net);
  after.insert("losses", torch::tensor(losses, torch::kDouble).view({steps, 8}));
  write_dict(dir / "init.pt", init);
  write_dict(dir / "after.pt", after);
  const std::string cmd =
      std::string(python) + " " + script + " " + (dir / "init.pt") + " " + (dir / "after.pt") + " 2>&1";
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    const int st = ::pclose(p);
    EXPECT_EQ(st, 0) << out;
  } else {
    FAIL() << "cannot run " << cmd;
  }
  std::cout << out;
}

}  // namespace
}  // namespace cg
