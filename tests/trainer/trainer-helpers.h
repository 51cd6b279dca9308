// Helpers for the trainer tests: running cg-trainer, small synthetic datasets, comparing models.
#pragma once

#include "tests/test-helpers.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace cg::test {

struct CliResult {
  int status = -1;     // exit code, or -signal when killed
  std::string output;  // stdout and stderr together
};

inline std::string trainer_path() {
  const char* p = std::getenv("CG_TRAINER");
  if (!p) throw std::runtime_error("CG_TRAINER is not set; run the tests through meson test");
  return p;
}

// Runs cg-trainer with `args`, extra environment `env` ("NAME=value").
inline CliResult run_trainer(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    ::close(fds[1]);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string exe = trainer_path();
    argv.push_back(exe.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(exe.c_str(), argv.data());
    std::_Exit(127);
  }
  ::close(fds[1]);
  CliResult r;
  std::array<char, 4096> buf;
  for (ssize_t n; (n = ::read(fds[0], buf.data(), buf.size())) > 0;)
    r.output.append(buf.data(), static_cast<size_t>(n));
  ::close(fds[0]);
  int st = 0;
  ::waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
  return r;
}

// A synthetic facades dataset: `count` training images per domain, `size` pixels square.
inline std::string make_synth(const TempDir& dir, int count, int size, int test_count = 4, int seed = 1) {
  const std::string out = dir / "data";
  auto r = run_trainer({"synth", "--out", out, "--count", std::to_string(count), "--test-count",
                        std::to_string(test_count), "--size", std::to_string(size), "--seed", std::to_string(seed)});
  if (r.status != 0) throw std::runtime_error("synth failed: " + r.output);
  return out;
}

// What makes a run tiny, quick and deterministic, for train and distill alike.
inline std::vector<std::string> tiny_run_args() {
  return {"--load-size",   "36", "--crop-size", "32",  "--seed",       "7", "--threads",      "1",
          "--num-threads", "2",  "--device",    "cpu", "--print-freq", "1", "--display-freq", "1000"};
}

// Arguments for a tiny, quick, deterministic training run.
inline std::vector<std::string> tiny_train_args(const std::string& dataroot, const std::string& checkpoints,
                                                const std::string& name) {
  std::vector<std::string> a = {"train",  "--dataroot", dataroot, "--checkpoints-dir", checkpoints,
                                "--name", name,         "--netG", "resnet_1blocks",    "--ngf",
                                "4",      "--ndf",      "4"};
  for (const auto& x : tiny_run_args()) a.push_back(x);
  return a;
}

inline std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace cg::test
