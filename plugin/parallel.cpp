#include "plugin/parallel.h"

#include "engine/engine.h"

#include <utility>

namespace cg::plugin {

void Parallel::dispatch(std::vector<BufferPtr> frames, const GstVideoInfo& info, guint workers, int threads) {
  auto job = std::make_shared<Job>();
  job->frames = std::move(frames);
  job->info = info;
  job->threads = threads;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    first = workers_.empty();
    while (workers_.size() < workers) workers_.emplace_back(&Parallel::work, this, generation_);
    queue_.push_back(job);
    in_flight_.push_back(std::move(job));
  }
  wake_.notify_one();
  if (first) cg::release_thread_team();
}

void Parallel::work(unsigned generation) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return generation_ != generation || !queue_.empty(); });
    if (generation_ != generation) return;
    std::shared_ptr<Job> job = std::move(queue_.front());
    queue_.pop_front();
    const bool wanted = !job->discarded;
    lock.unlock();
    if (wanted) run(*job);
    lock.lock();
    job->done = true;
    done_.notify_all();
    // A discarded job's frames go with it, back to their pool: not under the lock.
    lock.unlock();
    job.reset();
    lock.lock();
  }
}

// The worker's part: nothing here may escape the thread, so the error waits for collect().
void Parallel::run(Job& job) {
  try {
    std::deque<MappedFrame> mapped;  // a deque: MappedFrame cannot move
    std::vector<cg::FrameView> views;
    views.reserve(job.frames.size());
    for (BufferPtr& frame : job.frames) {
      mapped.emplace_back(&job.info, frame.get(), GST_MAP_READWRITE, "Could not map a frame for writing");
      views.push_back(mapped.back().view());
    }
    job.pass = stream_.infer(views.data(), views.data(), views.size(), job.threads);
  } catch (...) {
    job.error = std::current_exception();
  }
}

// The streaming thread's part, in output order.
std::vector<BufferPtr> Parallel::finish(Job& job) {
  if (job.error) std::rethrow_exception(job.error);
  {
    std::deque<MappedFrame> mapped;
    std::vector<cg::FrameView> views;
    views.reserve(job.frames.size());
    for (BufferPtr& frame : job.frames) {
      mapped.emplace_back(&job.info, frame.get(), GST_MAP_READWRITE, "Could not map a frame for writing");
      views.push_back(mapped.back().view());
    }
    stream_.finish(job.pass, views.data(), views.size());
  }
  return std::move(job.frames);
}

std::vector<BufferPtr> Parallel::collect(size_t in_flight) {
  std::vector<std::shared_ptr<Job>> done;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!in_flight_.empty()) {
      if (in_flight_.front()->done) {
        done.push_back(std::move(in_flight_.front()));
        in_flight_.pop_front();
      } else if (in_flight_.size() > in_flight) {
        done_.wait(lock);
      } else {
        break;
      }
    }
  }
  std::vector<BufferPtr> frames;
  for (auto& job : done)
    for (BufferPtr& frame : finish(*job)) frames.push_back(std::move(frame));
  return frames;
}

size_t Parallel::in_flight() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return in_flight_.size();
}

void Parallel::discard() {
  std::deque<std::shared_ptr<Job>> dropped;  // released after the unlock
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& job : in_flight_) job->discarded = true;
  std::swap(in_flight_, dropped);
}

void Parallel::stop() noexcept {
  std::deque<std::shared_ptr<Job>> queued, dropped;
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Nothing to reset afterwards, so that stop() may run on two threads at once.
    ++generation_;
    std::swap(queue_, queued);
    for (auto& job : in_flight_) job->discarded = true;
    std::swap(in_flight_, dropped);
    std::swap(workers_, workers);
  }
  wake_.notify_all();
  for (std::thread& worker : workers) {
    try {
      worker.join();
    } catch (...) {
      worker.detach();  // cannot happen for a joinable thread of ours; never terminate over it
    }
  }
}

}  // namespace cg::plugin
