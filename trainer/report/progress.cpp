#include "trainer/report/progress.h"

#include <unistd.h>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace cg {

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

bool Progress::stream_is_terminal(int fd) { return ::isatty(fd) == 1; }

Progress::Progress(std::ostream& out, bool live, int64_t print_freq)
    : out_(out), live_(live), print_freq_(print_freq) {}

void Progress::start_epoch(int epoch, int last_epoch, int64_t first_iter, int64_t iters, double lr) {
  epoch_ = epoch;
  last_epoch_ = last_epoch;
  first_iter_ = first_iter;
  iters_ = iters;
  lr_ = lr;
  start_ = last_draw_ = std::chrono::steady_clock::now();
  drawn_ = false;
  if (!live_) {
    std::ostringstream s;
    s << "epoch " << epoch << "/" << last_epoch << ": " << iters << " iterations, lr " << std::setprecision(6) << lr;
    if (first_iter > 0) s << ", resuming at iteration " << first_iter;
    out_ << s.str() << std::endl;
  }
}

std::string Progress::status(int64_t iter, const Losses& l) const {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double done = static_cast<double>(iter - first_iter_);
  const double rate = secs > 0 ? done / secs : 0;
  std::ostringstream s;
  s << std::fixed << std::setprecision(2) << rate << " it/s, ETA "
    << format_duration(rate > 0 ? (iters_ - iter) / rate : -1) << " |";
  s << std::setprecision(3);
  for (size_t i = 0; i < l.values.size(); ++i) s << " " << l.names[i] << " " << l.values[i];
  return s.str();
}

void Progress::update(int64_t iter, const std::function<Losses()>& losses) {
  if (live_) {
    const auto now = std::chrono::steady_clock::now();
    if (drawn_ && iter < iters_ && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    drawn_ = true;
    const int width = 24;
    const int filled = static_cast<int>(width * iter / std::max<int64_t>(1, iters_));
    std::ostringstream s;
    s << "\r\033[K"
      << "epoch " << epoch_ << "/" << last_epoch_ << " [" << std::string(static_cast<size_t>(filled), '#')
      << std::string(static_cast<size_t>(width - filled), '.') << "] " << iter << "/" << iters_ << " "
      << status(iter, losses());
    out_ << s.str() << std::flush;
  } else if (iter % print_freq_ == 0) {
    out_ << "epoch " << epoch_ << " iter " << iter << "/" << iters_ << ": " << status(iter, losses()) << std::endl;
  }
}

void Progress::end_epoch(const Losses& mean, double seconds) {
  if (live_ && drawn_) out_ << "\r\033[K";
  std::ostringstream s;
  s << "epoch " << epoch_ << "/" << last_epoch_ << " done in " << format_duration(seconds) << ", lr "
    << std::setprecision(6) << lr_ << ", mean losses:" << std::setprecision(3);
  for (size_t i = 0; i < mean.values.size(); ++i) s << " " << mean.names[i] << " " << mean.values[i];
  out_ << s.str() << std::endl;
  drawn_ = false;
}

void Progress::message(const std::string& text) {
  if (live_ && drawn_) out_ << "\r\033[K";
  out_ << text << std::endl;
  drawn_ = false;
}

}  // namespace cg
