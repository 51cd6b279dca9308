#include "trainer/dist/backends.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

namespace cg {

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                                                    const std::string& host, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  // The interface that reaches MASTER_ADDR: loopback for a one-machine run, the network otherwise.
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
}

}  // namespace cg
