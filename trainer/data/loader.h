// Builds batches on worker threads ahead of the training step, and hands them out in order.
#pragma once

#include "trainer/data/dataset.h"

#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace cg {

class Loader {
 public:
  // Batches [first, end) of `epoch`; at most `ahead` batches are prepared beyond the one
  // being consumed. `pin`: batches come in page-locked memory (for CUDA: the copy to the device
  // then runs without blocking the host), pinned on the workers, off the training thread.
  Loader(const TrainingData& data, uint64_t seed, int epoch, int64_t first, int64_t end, int workers, bool pin = false,
         int ahead = 4);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch in order; rethrows a worker's error.
  Batch next();

 private:
  void work();

  const TrainingData& data_;
  const uint64_t seed_;
  const int epoch_;
  const int64_t end_;
  const bool pin_;
  const int ahead_;
  int64_t next_to_build_;
  int64_t next_to_hand_;
  bool stop_ = false;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, Batch> ready_;
  std::map<int64_t, std::exception_ptr> errors_;
  std::vector<std::thread> threads_;
};

}  // namespace cg
