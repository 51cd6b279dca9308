// Randomness that can be reproduced and resumed: every random choice of the data pipeline is
// derived from (seed, epoch, position, purpose), so the order in which worker threads run, or a
// stop and resume in the middle of an epoch, cannot change what a given iteration sees.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>

namespace cg {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b) ^ c);
}

// The distributions are written out rather than taken from <random> because the standard
// leaves theirs implementation-defined; these give the same draws with any standard library.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : engine_(seed) {}
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }
  // Uniform in [0, n), n > 0.
  uint64_t below(uint64_t n) { return n <= 1 ? 0 : engine_() % n; }
  bool coin() { return (engine_() >> 63) != 0; }

  std::string state() const {
    std::ostringstream s;
    s << engine_;
    return s.str();
  }
  void set_state(const std::string& text) {
    std::istringstream s(text);
    std::mt19937_64 e;
    s >> e;
    if (s.fail()) throw std::runtime_error("bad random generator state");
    engine_ = e;
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace cg
