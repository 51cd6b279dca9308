#pragma once

#include "model/state-dict-reader.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace cg::test {

// Fixtures written by tests/python/make_fixtures.py at build time.
inline std::string fixture(const std::string& name) {
  const char* dir = std::getenv("CG_FIXTURES");
  if (!dir) throw std::runtime_error("CG_FIXTURES is not set; run the tests through meson test");
  return std::string(dir) + "/" + name;
}

inline at::Tensor tensor_named(const NamedTensors& all, const std::string& key) {
  for (const auto& [k, t] : all)
    if (k == key) return t;
  throw std::runtime_error("no tensor " + key);
}

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

// The process's threads named `name`: a thread takes its creator's name, OpenMP's included.
inline int threads_named(const std::string& name) {
  int n = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string line;
    if (std::getline(comm, line) && line == name) ++n;
  }
  return n;
}

// The same once it is `expected`, or after 5 s: a thread that ends leaves /proc/self/task a moment
// after it is joined.
inline int settled_threads_named(const std::string& name, int expected) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int n = threads_named(name);
  while (n != expected && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    n = threads_named(name);
  }
  return n;
}

// A fresh directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "cg-test-XXXXXX").string();
    path = ::mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Runs `fn` and returns the message of the cg::Error (kind kModel) it must throw.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no cg::Error thrown";
  return {};
}

}  // namespace cg::test
