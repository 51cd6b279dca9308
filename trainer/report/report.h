// The training record a person reads: loss_log.csv, loss_curve.png, and sample translations
// under web/ with an index.html, what the official visualizer shows without a visdom server.
#pragma once

#include "trainer/train/cycle-gan.h"

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
  LossLog(const std::string& dir, bool resume, int64_t resume_total_iters);

  void append(const LossRow& row);
  const std::vector<LossRow>& rows() const { return rows_; }

  // Draws every loss against the iteration count, log scale, into `png`.
  void draw_curve(const std::string& png) const;

  static std::string header();
  static LossRow parse(const std::string& line);  // throws std::invalid_argument

 private:
  std::string path_;
  std::vector<LossRow> rows_;
};

// Writes web/images/epoch%03d_{real_A,fake_B,rec_A,real_B,fake_A,rec_B}.png and rebuilds
// web/index.html from the images present (newest epoch first).
void save_samples(const std::string& experiment_dir, int epoch, const Visuals& v);

// Minimal HTML escaping for file names shown in pages.
std::string html_escape(const std::string& s);

}  // namespace cg
