// This process's place in a distributed run, as torchrun describes it in the environment.
#pragma once

#include <functional>
#include <string>

namespace cg {

struct World {
  int rank = 0;
  int local_rank = 0;
  int world_size = 1;
  int local_world_size = 1;
  std::string master_addr;
  int master_port = 0;
  int restart_count = 0;  // TORCHELASTIC_RESTART_COUNT: how many times torchrun restarted the group
  // TORCHELASTIC_USE_AGENT_STORE: torchrun's agent already serves the store at MASTER_PORT, so
  // rank 0 connects to it like the others instead of serving one.
  bool agent_store = false;

  bool distributed() const { return world_size > 1; }
  bool leader() const { return rank == 0; }
};

using EnvironmentReader = std::function<const char*(const char*)>;

// RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and
// TORCHELASTIC_RESTART_COUNT. Without WORLD_SIZE the process trains alone, as it always has.
// Throws Error(kUsage) naming the variable and what is wrong with it.
World read_world(const EnvironmentReader& getenv);
World read_world();  // from this process's environment

}  // namespace cg
