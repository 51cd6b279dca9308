#include "trainer/data/loader.h"

namespace cg {

Loader::Loader(const TrainingData& data, uint64_t seed, int epoch, int64_t first, int64_t end, int workers, bool pin,
               int ahead)
    : data_(data),
      seed_(seed),
      epoch_(epoch),
      end_(end),
      pin_(pin),
      ahead_(std::max(1, ahead)),
      next_to_build_(first),
      next_to_hand_(first) {
  for (int i = 0; i < std::max(1, workers); ++i) threads_.emplace_back([this] { work(); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Loader::work() {
  for (;;) {
    int64_t index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [this] { return stop_ || next_to_build_ >= end_ || next_to_build_ < next_to_hand_ + ahead_; });
      if (stop_ || next_to_build_ >= end_) return;
      index = next_to_build_++;
    }
    Batch b;
    std::exception_ptr err;
    try {
      b = data_.batch(seed_, epoch_, index);
      if (pin_) {
        b.A = b.A.pin_memory();
        b.B = b.B.pin_memory();
      }
    } catch (...) {
      err = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (err) {
        errors_[index] = err;
      } else {
        ready_[index] = std::move(b);
      }
    }
    cv_.notify_all();
  }
}

Batch Loader::next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (next_to_hand_ >= end_) throw std::out_of_range("Loader::next past the end of the epoch");
  const int64_t want = next_to_hand_;
  cv_.wait(lock, [&] { return ready_.count(want) || errors_.count(want); });
  if (auto e = errors_.find(want); e != errors_.end()) std::rethrow_exception(e->second);
  Batch b = std::move(ready_[want]);
  ready_.erase(want);
  ++next_to_hand_;
  lock.unlock();
  cv_.notify_all();
  return b;
}

}  // namespace cg
