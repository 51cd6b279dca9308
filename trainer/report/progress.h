// What a person watching training sees: a live progress line on a terminal, plain periodic
// lines in a log file or pipe.
#pragma once

#include "trainer/train/trainable.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>

namespace cg {

class Progress {
 public:
  // `live`: redraw one line in place (a terminal); otherwise print a line every `print_freq`
  // iterations.
  Progress(std::ostream& out, bool live, int64_t print_freq);

  void start_epoch(int epoch, int last_epoch, int64_t first_iter, int64_t iters_in_epoch, double lr);
  // `iter` = batches done in the epoch so far. `losses` is called only when a line is drawn:
  // reading the losses waits for the device.
  void update(int64_t iter, const std::function<Losses()>& losses);
  void end_epoch(const Losses& mean, double seconds);
  // Any other message: clears the live line first.
  void message(const std::string& text);

  static bool stream_is_terminal(int fd);

 private:
  std::string status(int64_t iter, const Losses& l) const;

  std::ostream& out_;
  bool live_;
  int64_t print_freq_;
  int epoch_ = 0, last_epoch_ = 0;
  int64_t first_iter_ = 0, iters_ = 0;
  double lr_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

std::string format_duration(double seconds);

}  // namespace cg
