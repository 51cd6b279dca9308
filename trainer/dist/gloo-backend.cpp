#include "trainer/dist/backends.h"

#include "common/error.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <arpa/inet.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace cg {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ','))
    if (!item.empty()) items.push_back(item);
  return items;
}

std::string local_interfaces() {
  std::string names;
  if (struct if_nameindex* all = if_nameindex()) {
    for (auto* i = all; i->if_index != 0; ++i) names += (names.empty() ? "" : ", ") + std::string(i->if_name);
    if_freenameindex(all);
  }
  return names.empty() ? "none found" : names;
}

// The source address the kernel would use to reach host:port. Connecting a UDP socket sends
// nothing; it only picks the route, so this works before any other rank is listening.
std::string address_towards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) return "";
  std::string address;
  for (addrinfo* a = found; a && address.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    sockaddr_storage local{};
    socklen_t size = sizeof local;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 &&
        getsockname(fd, reinterpret_cast<sockaddr*>(&local), &size) == 0) {
      char text[INET6_ADDRSTRLEN] = {};
      const void* raw = local.ss_family == AF_INET6
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&local)->sin6_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&local)->sin_addr);
      if (inet_ntop(local.ss_family, raw, text, sizeof text)) address = text;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return address;
}

}  // namespace

GlooEndpoints gloo_endpoints(const World& world, const EnvironmentReader& getenv) {
  GlooEndpoints e;
  // PyTorch ignores a value of one character, so a stray "GLOO_SOCKET_IFNAME= " does the same here.
  const char* ifname = getenv("GLOO_SOCKET_IFNAME");
  if (ifname && std::string(ifname).size() > 1) {
    for (const auto& name : split_list(ifname)) {
      if (if_nametoindex(name.c_str()) == 0)
        throw Error(ErrorKind::kUsage, "GLOO_SOCKET_IFNAME=" + std::string(ifname) +
                                           ": this machine has no network "
                                           "interface " +
                                           name + " (it has: " + local_interfaces() +
                                           "); name the one that reaches MASTER_ADDR, or unset it");
      e.interfaces.push_back(name);
    }
    if (!e.interfaces.empty()) return e;
  }
  // Not MASTER_ADDR itself: on every machine but the master that address is not local, and
  // binding to it fails.
  e.address = address_towards(world.master_addr, world.master_port);
  return e;
}

c10::intrusive_ptr<c10d::Backend> make_gloo_backend(const c10::intrusive_ptr<c10d::Store>& store, const World& world,
                                                    std::chrono::milliseconds timeout) {
  const GlooEndpoints where = gloo_endpoints(world, [](const char* name) { return std::getenv(name); });
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  for (const auto& name : where.interfaces) {
    try {
      options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(name));
    } catch (const std::exception& e) {
      throw Error(ErrorKind::kUsage, "GLOO_SOCKET_IFNAME: Gloo cannot use interface " + name + " (" +
                                         std::string(e.what()).substr(0, 200) +
                                         "); it needs an address on it that reaches MASTER_ADDR");
    }
  }
  if (options->devices.empty())
    options->devices.push_back(where.address.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                                     : c10d::ProcessGroupGloo::createDeviceForHostname(where.address));
  options->threads = static_cast<int>(options->devices.size()) * 2;  // as PyTorch sizes it
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.world_size, options);
}

}  // namespace cg
