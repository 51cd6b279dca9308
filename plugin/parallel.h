// parallel-frames N > 1: up to N passes (a frame each, or a batch each with batch-size) are
// translated at once, each on a worker thread of its own, for throughput on small models, where
// one frame cannot keep every core busy. The element gives each pass max(1, threads / N)
// intra-op threads (OpenMP keeps the count per calling thread, so the workers do not disturb one
// another), and the engine runs passes on the CPU without a lock (engine/engine.h).
//
// Order is kept by construction: passes are dispatched and collected in one FIFO, and collect()
// hands out the frames of the passes at its head only, waiting for the oldest one when too many
// are in flight. The streaming thread finishes each collected pass (temporal filter, statistics)
// in that order, so temporal=flow blends after the parallel step exactly as for frames one by
// one. A pass's frames are buffers of ours (copies in the output pool, as batch-size holds them),
// translated in place; their timestamps, flags and metas travel with them.
//
// Locking rule: the queues, the jobs' done/discarded flags and the threads are touched only under
// mutex_, which is never held while a pass runs, a buffer is released or GStreamer or the Stream
// is called, so it is part of no deadlock. A job's frames and result belong to its worker until
// `done` is set under mutex_, and to the streaming thread after it.
#pragma once

#include "plugin/boundary.h"
#include "plugin/stream.h"

#include <gst/video/video.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace cg::plugin {

constexpr guint kMaxParallelFrames = 8;

class Parallel {
 public:
  explicit Parallel(Stream& stream) : stream_(stream) {}
  ~Parallel() { stop(); }
  Parallel(const Parallel&) = delete;
  Parallel& operator=(const Parallel&) = delete;

  // Starts translating `frames` (writable buffers of ours, laid out as `info`) in place in one
  // pass on `threads` CPU threads (0: the engine's), on a worker; at least `workers` workers are
  // started, lazily, so an element that never goes parallel has no extra thread. The calling
  // thread's OpenMP team, from the frames it translated itself, ends when the first workers start:
  // idle, it would count against the cores (cg::release_thread_team). Throws std::system_error
  // when no thread can be started.
  void dispatch(std::vector<BufferPtr> frames, const GstVideoInfo& info, guint workers, int threads);
  // The frames of the passes done at the head of the queue, in order and finished by the stream
  // (temporal filter, statistics), once at most `in_flight` passes are left running: it waits for
  // the oldest pass while more are. Throws what a pass threw (cg::Error); its frames are dropped.
  std::vector<BufferPtr> collect(size_t in_flight);
  size_t in_flight() const;
  // Forgets the passes in flight (a flush): each one's frames are dropped once it is done.
  void discard();
  // Forgets the passes, waits for those running and ends the workers: between streams (the
  // element's stop), so that none outlives the stream's engine, and when passes go back to
  // running one at a time, since idle workers' OpenMP teams would count against the cores. Safe
  // on several threads at once.
  void stop() noexcept;

 private:
  struct Job {
    std::vector<BufferPtr> frames;
    GstVideoInfo info;
    int threads = 0;
    Pass pass;
    std::exception_ptr error;
    bool done = false;       // under mutex_
    bool discarded = false;  // under mutex_
  };
  void work(unsigned generation);
  void run(Job& job);
  std::vector<BufferPtr> finish(Job& job);

  Stream& stream_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;                // for the workers: a job queued, or stopping
  std::condition_variable done_;                // for collect(): a job done
  std::deque<std::shared_ptr<Job>> queue_;      // not started yet
  std::deque<std::shared_ptr<Job>> in_flight_;  // dispatched and not collected, oldest first
  std::vector<std::thread> workers_;
  unsigned generation_ = 0;  // under mutex_: workers of an older one end (stop())
};

}  // namespace cg::plugin
