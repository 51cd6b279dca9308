// The training record a person reads: loss_log.csv, loss_curve.png, and sample translations
// under web/ with an index.html, what the official visualizer shows without a visdom server.
#pragma once

#include "trainer/train/trainable.h"

#include <string>
#include <vector>

namespace cg {

struct LossRow {
  int epoch = 0;
  int64_t iter = 0;         // batches done in the epoch
  int64_t total_iters = 0;  // since the start of training
  Losses losses;            // means over the rows' window
  double lr = 0;
  double elapsed_s = 0;
};

class LossLog {
 public:
  // Opens DIR/loss_log.csv. When resuming, rows past `resume_total_iters` (written after the
  // checkpoint, by a run that was killed) are dropped; otherwise any old log is replaced.
  // `names`: the model's losses, the columns; `title` heads the curve.
  LossLog(const std::string& dir, std::vector<std::string> names, const std::string& title, bool resume,
          int64_t resume_total_iters);

  void append(const LossRow& row);
  const std::vector<LossRow>& rows() const { return rows_; }

  // Draws every loss against the iteration count, log scale, into `png`.
  void draw_curve(const std::string& png) const;

  std::string header() const;
  LossRow parse(const std::string& line) const;  // throws std::invalid_argument

 private:
  std::string path_;
  std::vector<std::string> names_;
  std::string title_;
  std::vector<LossRow> rows_;
};

// Writes web/images/epoch%03d_NAME.png for each named image and rebuilds web/index.html from the
// epochs present (newest first).
void save_samples(const std::string& experiment_dir, int epoch, const Visuals& v);

// Minimal HTML escaping for file names shown in pages.
std::string html_escape(const std::string& s);

// One of our pages (the samples of a run, the results of `test`): `title` (text, escaped here) as
// its title and heading, our style plus `style`, then `body` (HTML). `refresh_s` > 0 reloads it
// that often, for a run still training.
std::string html_page(const std::string& title, const std::string& style, const std::string& body, int refresh_s = 0);

}  // namespace cg
