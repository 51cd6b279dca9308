// The c10d backends a Group runs on. NCCL lives in its own unit, built only where the CUDA
// toolkit's nccl.h is found, so the rest compiles without CUDA headers.
#pragma once

#include "trainer/dist/world.h"

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace cg {

// Where this rank's Gloo device listens, decided as PyTorch decides it: the interfaces that
// GLOO_SOCKET_IFNAME lists (comma-separated, one device each), or else one local address.
struct GlooEndpoints {
  std::vector<std::string> interfaces;
  std::string address;  // when no interface is named: the local address that routes to MASTER_ADDR
};

// Throws Error(kUsage) naming GLOO_SOCKET_IFNAME when it names an interface this machine lacks.
// `address` is empty when MASTER_ADDR has no route from here; the caller then takes PyTorch's
// own default (the hostname's address, or loopback).
GlooEndpoints gloo_endpoints(const World& world, const EnvironmentReader& getenv);

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, const World& world,
                                                    std::chrono::milliseconds timeout);

// Throws Error(kSettings) when this build has no NCCL.
c10::intrusive_ptr<c10d::Backend> make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    std::chrono::milliseconds timeout);

}  // namespace cg
