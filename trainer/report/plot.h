// Line charts as PNG images, drawn with OpenCV so that no plotting library is needed: the loss
// curve of a training run and the per-frame warping error of `cg-trainer flicker`.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace cg {

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y); y <= 0 is left out (log scale)
};

// The series against x (linear) and y (log scale over whole decades), with a legend; the PNG is
// written atomically, so a browser never shows half a plot. Throws Error(kIo) naming the file.
void draw_log_plot(const std::string& png, const std::string& title, const std::string& x_label,
                   const std::vector<Series>& series);

}  // namespace cg
