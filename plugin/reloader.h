// The model hot swap's helper thread. A change of model, device, precision, threads or
// process-size while the element runs must not make the stream wait for a load (seconds for a big
// model on a GPU), so the new engine is built here and handed to the stream, which swaps it in
// between two frames. Requests that arrive during a load are merged into one more load, so a
// burst of changes costs at most two loads and the last settings always win.
//
// Locking rule: everything in State, and thread_, is touched only under State::mutex, which is
// never held while the work runs nor while joining, so the work may do anything, request again or
// even stop the element.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace cg::plugin {

class Reloader {
 public:
  // `work` builds and swaps in an engine from the current settings; it must not throw.
  explicit Reloader(std::function<void()> work);
  ~Reloader() { stop(); }
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Between start() and stop() (the element's start and stop), request() runs the work on the
  // helper thread, which is created at the first request: an element whose settings never change
  // while it runs has no extra thread.
  void start();
  void request();
  // Drops a pending request and waits for a load in progress. Safe from the helper thread itself
  // (a bus handler reacting to the work's warning may stop the element).
  void stop() noexcept;

 private:
  // Shared with the thread, so that a thread detached by stop() never touches a Reloader that
  // may be gone by the time its work returns.
  struct State {
    std::function<void()> work;
    std::mutex mutex;
    std::condition_variable wake;
    bool running = false;
    bool pending = false;
    uint64_t epoch = 0;  // bumped by stop(): a thread of an older epoch ends
  };
  static void loop(std::shared_ptr<State> state, uint64_t epoch);

  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace cg::plugin
