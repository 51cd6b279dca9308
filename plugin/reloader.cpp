#include "plugin/reloader.h"

namespace cg::plugin {

Reloader::Reloader(std::function<void()> work) : state_(std::make_shared<State>()) { state_->work = std::move(work); }

void Reloader::start() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->running = true;
  state_->pending = false;
}

void Reloader::request() {
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    if (!state_->running) return;  // not started: start() loads from the settings as they are then
    state_->pending = true;
    if (!thread_.joinable()) thread_ = std::thread(&Reloader::loop, state_, state_->epoch);
  }
  state_->wake.notify_one();
}

void Reloader::loop(std::shared_ptr<State> state, uint64_t epoch) {
  std::unique_lock<std::mutex> lock(state->mutex);
  for (;;) {
    state->wake.wait(lock, [&] { return state->pending || state->epoch != epoch; });
    if (state->epoch != epoch) return;
    state->pending = false;
    lock.unlock();
    state->work();
    lock.lock();
  }
}

void Reloader::stop() noexcept {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(state_->mutex);
    state_->running = false;
    state_->pending = false;
    ++state_->epoch;
    thread = std::move(thread_);
  }
  state_->wake.notify_all();
  if (!thread.joinable()) return;
  // Joining itself would throw: called from inside the work, the thread ends once it returns.
  if (thread.get_id() == std::this_thread::get_id())
    thread.detach();
  else
    thread.join();
}

}  // namespace cg::plugin
