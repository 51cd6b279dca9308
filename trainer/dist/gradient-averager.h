// The mean of one optimizer's gradients over the ranks, sent while backward still runs, the way
// DistributedDataParallel's reducer does it: the gradients travel in buckets; a hook on each
// parameter's gradient accumulator marks it ready, and a bucket's all-reduce starts on the
// backend's threads as soon as all of its parameters are ready and every bucket before it has
// started (every rank starts the same sums in the same order). finish() then waits only for what
// is still on the wire.
//
// The buckets follow the order in which a step's backward makes the gradients ready: the first
// step averages at the end, the second learns that order (rank 0's, for all), the third and later
// overlap. A parameter whose gradient grows again after its bucket was sent (two backward passes
// into it in one step) makes the averager send everything at the end from then on, which is
// always right.
#pragma once

#include "trainer/dist/group.h"

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace cg {

struct BucketOptions {
  // DistributedDataParallel's sizes: a small first bucket gets the wire busy early.
  int64_t first_bytes = int64_t{1} << 20;
  int64_t bytes = int64_t{25} << 20;
  // Off: every bucket is sent by finish() (NCCL's streams in autograd's device threads are
  // untested here, so CUDA ranks average at the end).
  bool overlap = true;
};

class GradientAverager {
 public:
  // `flag` is read when the first bucket is sent; its sum over the ranks travels as one more
  // element of that bucket, so that a small flag (a stop) costs no collective of its own.
  GradientAverager(Group& group, std::vector<at::Tensor> params, std::function<double()> flag,
                   const BucketOptions& options = {});
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // After the step's backward passes: every gradient becomes its mean over the ranks (a missing
  // one counts as zeros). Returns the flag summed over the ranks.
  double finish();

  // How many buckets there are, and how many of the last step's were sent before finish().
  size_t buckets() const;
  size_t sent_early() const;

  struct State;  // shared with the hooks, which outlive nothing: they hold it weakly

 private:
  std::shared_ptr<State> s_;
};

}  // namespace cg
