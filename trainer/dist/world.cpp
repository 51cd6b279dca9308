#include "trainer/dist/world.h"

#include "common/error.h"

#include <cstdlib>

namespace cg {

namespace {

[[noreturn]] void refuse(const std::string& why) {
  throw Error(ErrorKind::kUsage, "distributed launch: " + why + " (launch with torchrun, which sets them all)");
}

// The variable as an integer in [low, high]; `fallback` when it is unset and not required.
int integer(const EnvironmentReader& getenv, const char* name, int low, int high, int fallback, bool required) {
  const char* text = getenv(name);
  if (!text || !*text) {
    if (required) refuse(std::string(name) + " is not set");
    return fallback;
  }
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*end != '\0' || v < low || v > high)
    refuse(std::string(name) + "=" + text + " is not a whole number from " + std::to_string(low) + " to " +
           std::to_string(high));
  return static_cast<int>(v);
}

}  // namespace

World read_world(const EnvironmentReader& getenv) {
  World w;
  if (!getenv("WORLD_SIZE")) return w;
  constexpr int kMaxRanks = 1 << 20;
  w.world_size = integer(getenv, "WORLD_SIZE", 1, kMaxRanks, 1, true);
  if (!w.distributed()) return w;
  w.rank = integer(getenv, "RANK", 0, w.world_size - 1, 0, true);
  w.local_world_size = integer(getenv, "LOCAL_WORLD_SIZE", 1, w.world_size, 1, false);
  w.local_rank = integer(getenv, "LOCAL_RANK", 0, w.local_world_size - 1, 0, false);
  w.restart_count = integer(getenv, "TORCHELASTIC_RESTART_COUNT", 0, 1 << 30, 0, false);
  const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE");
  w.agent_store = agent && (std::string(agent) == "True" || std::string(agent) == "1");
  const char* addr = getenv("MASTER_ADDR");
  if (!addr || !*addr) refuse("WORLD_SIZE=" + std::to_string(w.world_size) + " but MASTER_ADDR is not set");
  w.master_addr = addr;
  w.master_port = integer(getenv, "MASTER_PORT", 1, 65535, 0, true);
  return w;
}

World read_world() {
  return read_world([](const char* name) { return std::getenv(name); });
}

}  // namespace cg
