// The ranks of a distributed run as one c10d process group: PyTorch's own rendezvous (a TCPStore
// served by rank 0 at MASTER_ADDR:MASTER_PORT) and collectives (Gloo on the CPU, NCCL on CUDA).
// Every collective is called by every rank in the same order; one that does not complete within
// the timeout (a rank died or hangs) throws Error(kRuntime) instead of waiting for ever.
#pragma once

#include "trainer/dist/world.h"

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cg {

struct GroupOptions {
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
};

struct CommunicationStats {
  int64_t bytes_reduced = 0;  // gradient bytes all-reduced, per rank
  double seconds = 0;         // the caller waited for collectives (a started sum counts from its finish)
};

// A sum over the ranks that runs on the backend's own threads while the caller goes on.
struct PendingSum;

class Group {
 public:
  // Joins the group of `world` (which must be distributed). Throws Error naming the address and
  // the reason: a port in use, an unreachable rank 0, a rendezvous that timed out.
  Group(const World& world, const c10::Device& device, const GroupOptions& options = {});
  ~Group();
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;

  int rank() const;
  int size() const;

  // Every rank's tensors become root's, in place.
  void broadcast(std::vector<at::Tensor> tensors, int root = 0);
  // Every rank's `bytes` become root's (a checkpoint file): the size first, then the bytes in
  // pieces of at most `piece_bytes`, so that besides the bytes no rank holds more than one piece
  // (on the GPU too, where NCCL needs them). `what` names them in a failure.
  void broadcast(std::string& bytes, const std::string& what, int root = 0, int64_t piece_bytes = int64_t{16} << 20);
  // Starts summing `t` (in place) over the ranks; every rank starts its sums in the same order.
  std::shared_ptr<PendingSum> start_sum(at::Tensor t, const std::string& what);
  // Waits, within the timeout, until `sum` is complete and returns the summed tensor.
  at::Tensor finish_sum(PendingSum& sum);
  // Counts `bytes` of gradients as all-reduced, for stats().
  void count_reduced(int64_t bytes);
  // The element-wise mean over the ranks.
  std::vector<double> mean(const std::vector<double>& values);
  // Every rank's `value`, in rank order.
  std::vector<int64_t> gather(int64_t value);
  // Every rank's `text`, in rank order (its length first, then the padded bytes).
  std::vector<std::string> gather(const std::string& text);

  const CommunicationStats& stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// FNV-1a over `size` bytes, continuing from `h`: the ranks' checksums of weights and options.
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t fnv1a(const void* data, size_t size, uint64_t h = kFnvOffset);

// A checksum of the parameters' bytes: equal on two ranks only when their weights are identical.
uint64_t weights_checksum(const std::vector<at::Tensor>& params);

// Throws Error(kRuntime) naming the ranks whose `value` differs from rank 0's, and `what` it is.
void require_same_on_every_rank(Group& group, int64_t value, const std::string& what);

// Named values, as a user reads them ("--max-iters" = "40"), that every rank must share.
using Facts = std::vector<std::pair<std::string, std::string>>;

// One collective compares a digest of every rank's `facts`; only when they differ do the ranks
// exchange the values themselves, so that every rank throws the same Error(kUsage): `what`, then
// each fact that differs with its values and the ranks that hold them.
void require_same_facts(Group& group, const Facts& facts, const std::string& what);

}  // namespace cg
