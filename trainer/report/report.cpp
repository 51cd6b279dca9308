#include "trainer/report/report.h"

#include "common/atomic-file.h"
#include "common/error.h"
#include "trainer/data/image-io.h"
#include "trainer/train/options.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

namespace cg {

namespace fs = std::filesystem;

namespace {

// The loss curve's layout, in pixels: the plot inside margins for the axis labels and legend.
constexpr int kWidth = 960, kHeight = 540, kLeft = 70, kRight = 150, kTop = 40, kBottom = 50;
constexpr int kPlotWidth = kWidth - kLeft - kRight, kPlotHeight = kHeight - kTop - kBottom;
constexpr auto kFont = cv::FONT_HERSHEY_SIMPLEX;
const cv::Scalar kAxis(0, 0, 0), kGrid(225, 225, 225);

// Places iterations (x, linear) and losses (y, log scale over whole decades) in the plot.
struct PlotScale {
  double x0 = 0, x1 = 1;
  double y0 = 0, y1 = 1;  // decades: log10 of the losses

  int px(double x) const { return kLeft + static_cast<int>(std::lround((x - x0) / (x1 - x0) * kPlotWidth)); }
  int py(double v) const {
    const double l = std::log10(std::max(v, std::pow(10.0, y0)));
    return kTop + static_cast<int>(std::lround((y1 - l) / (y1 - y0) * kPlotHeight));
  }
};

// The decades that hold every positive loss, and the iterations up to the last row.
PlotScale plot_scale(const std::vector<LossRow>& rows) {
  double lo = 1e9, hi = -1e9;
  for (const auto& r : rows)
    for (double v : r.losses.values)
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
  if (lo > hi) lo = 0.01, hi = 10;
  PlotScale s;
  s.y0 = std::floor(std::log10(lo));
  s.y1 = std::max(s.y0 + 1, std::ceil(std::log10(hi)));
  s.x1 = std::max<double>(1, static_cast<double>(rows.back().total_iters));
  return s;
}

void draw_axes(cv::Mat& img, const PlotScale& s) {
  for (double d = s.y0; d <= s.y1 + 1e-9; d += 1) {
    for (int k = 1; k < 10 && d + std::log10(k) <= s.y1 + 1e-9; ++k)
      cv::line(img, {kLeft, s.py(k * std::pow(10, d))}, {kLeft + kPlotWidth, s.py(k * std::pow(10, d))}, kGrid);
    std::ostringstream l;
    l << std::pow(10, d);
    cv::putText(img, l.str(), {8, s.py(std::pow(10, d)) + 5}, kFont, 0.45, kAxis, 1, cv::LINE_AA);
  }
  for (int k = 0; k <= 5; ++k) {
    const double x = s.x0 + (s.x1 - s.x0) * k / 5;
    cv::line(img, {s.px(x), kTop}, {s.px(x), kTop + kPlotHeight}, kGrid);
    std::ostringstream l;
    l << static_cast<int64_t>(std::lround(x));
    cv::putText(img, l.str(), {s.px(x) - 15, kTop + kPlotHeight + 20}, kFont, 0.45, kAxis, 1, cv::LINE_AA);
  }
  cv::putText(img, "iterations", {kLeft + kPlotWidth / 2 - 40, kHeight - 8}, kFont, 0.5, kAxis, 1, cv::LINE_AA);
  cv::rectangle(img, {kLeft, kTop}, {kLeft + kPlotWidth, kTop + kPlotHeight}, kAxis);
}

// One line per loss, skipping the zeros a log scale cannot show, and the legend beside the plot.
void draw_losses(cv::Mat& img, const PlotScale& s, const std::vector<LossRow>& rows,
                 const std::vector<std::string>& names) {
  static const cv::Scalar palette[8] = {{31, 119, 180},  {255, 127, 14}, {44, 160, 44},   {214, 39, 40},
                                        {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127}};
  for (size_t i = 0; i < names.size(); ++i) {
    const cv::Scalar& colour = palette[i % 8];
    std::vector<cv::Point> pts;
    for (const auto& r : rows)
      if (r.losses.values[i] > 0) pts.push_back({s.px(static_cast<double>(r.total_iters)), s.py(r.losses.values[i])});
    if (pts.size() == 1) cv::circle(img, pts[0], 2, colour, cv::FILLED, cv::LINE_AA);
    if (pts.size() > 1) cv::polylines(img, pts, false, colour, 1, cv::LINE_AA);
    const int ly = kTop + 15 + 22 * static_cast<int>(i);
    cv::line(img, {kLeft + kPlotWidth + 12, ly - 4}, {kLeft + kPlotWidth + 40, ly - 4}, colour, 2, cv::LINE_AA);
    cv::putText(img, names[i], {kLeft + kPlotWidth + 46, ly}, kFont, 0.5, kAxis, 1, cv::LINE_AA);
  }
}

}  // namespace

std::string LossLog::header() const {
  std::string h = "epoch,iter,total_iters";
  for (const auto& n : names_) h += "," + n;
  return h + ",lr,elapsed_s";
}

LossRow LossLog::parse(const std::string& line) const {
  std::vector<std::string> f;
  std::stringstream s(line);
  for (std::string cell; std::getline(s, cell, ',');) f.push_back(cell);
  if (f.size() != 3 + names_.size() + 2) throw std::invalid_argument("wrong number of fields");
  LossRow r;
  r.epoch = std::stoi(f[0]);
  r.iter = std::stoll(f[1]);
  r.total_iters = std::stoll(f[2]);
  r.losses.names = names_;
  for (size_t i = 0; i < names_.size(); ++i) r.losses.values.push_back(std::stod(f[3 + i]));
  r.lr = std::stod(f[f.size() - 2]);
  r.elapsed_s = std::stod(f.back());
  return r;
}

LossLog::LossLog(const std::string& dir, std::vector<std::string> names, const std::string& title, bool resume,
                 int64_t resume_total_iters)
    : path_((fs::path(dir) / "loss_log.csv").string()), names_(std::move(names)), title_(title) {
  if (resume) {
    std::ifstream in(path_);
    std::string line;
    bool first = true;
    while (std::getline(in, line)) {
      if (first) {
        first = false;
        if (line == header()) continue;
      }
      try {
        auto r = parse(line);
        if (r.total_iters <= resume_total_iters) rows_.push_back(r);
      } catch (const std::exception&) {
        // A half-written last line from a killed run: dropped.
      }
    }
  }
  std::ofstream out(path_, std::ios::trunc);
  if (!out) throw Error(ErrorKind::kIo, path_ + ": cannot write the loss log");
  out << header() << "\n";
  out.close();
  auto rows = std::move(rows_);
  rows_.clear();
  for (const auto& r : rows) append(r);
}

void LossLog::append(const LossRow& r) {
  std::ofstream out(path_, std::ios::app);
  out << r.epoch << "," << r.iter << "," << r.total_iters << std::setprecision(6);
  for (double v : r.losses.values) out << "," << v;
  out << "," << std::setprecision(8) << r.lr << "," << std::fixed << std::setprecision(1) << r.elapsed_s << "\n";
  if (!out) throw Error(ErrorKind::kIo, path_ + ": cannot write the loss log");
  rows_.push_back(r);
}

void LossLog::draw_curve(const std::string& png) const {
  cv::Mat img(kHeight, kWidth, CV_8UC3, cv::Scalar(255, 255, 255));
  cv::putText(img, title_ + " losses (log scale) vs iteration", {kLeft, 25}, kFont, 0.6, kAxis, 1, cv::LINE_AA);
  if (!rows_.empty()) {
    const PlotScale scale = plot_scale(rows_);
    draw_axes(img, scale);
    draw_losses(img, scale, rows_, names_);
  }
  // Atomically, so a browser never shows a half-written plot.
  write_rgb(png, img);
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string html_page(const std::string& title, const std::string& style, const std::string& body, int refresh_s) {
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">";
  if (refresh_s > 0) h << "<meta http-equiv=\"refresh\" content=\"" << refresh_s << "\">";
  h << "<title>" << html_escape(title) << "</title>\n<style>body{font-family:sans-serif} " << style
    << "</style></head><body>\n<h1>" << html_escape(title) << "</h1>\n"
    << body << "</body></html>\n";
  return h.str();
}

void save_samples(const std::string& experiment_dir, int epoch, const Visuals& v) {
  const fs::path web = fs::path(experiment_dir) / "web", images = web / "images";
  fs::create_directories(images);
  char prefix[32];
  std::snprintf(prefix, sizeof prefix, "epoch%03d_", epoch);
  for (const auto& [name, t] : v) write_rgb((images / (prefix + name + ".png")).string(), tensor_to_image(t));

  std::map<int, bool, std::greater<int>> epochs;
  std::error_code ec;
  for (fs::directory_iterator it(images, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string f = it->path().filename().string();
    if (f.rfind("epoch", 0) == 0 && f.size() > 8 && f.find("_" + v.front().first + ".png") != std::string::npos) {
      try {
        epochs[std::stoi(f.substr(5))] = true;
      } catch (const std::exception&) {
      }
    }
  }
  std::ostringstream h;
  h << "<p><img src=\"../loss_curve.png\" style=\"width:720px\"></p>\n";
  for (const auto& [e, _] : epochs) {
    char p[32];
    std::snprintf(p, sizeof p, "epoch%03d_", e);
    h << "<h3>epoch " << e << "</h3>\n<table><tr>";
    for (const auto& [name, t] : v) {
      (void)t;
      h << "<td><img src=\"images/" << p << name << ".png\"><br>" << name << "</td>";
    }
    h << "</tr></table>\n";
  }
  write_file_atomically((web / "index.html").string(),
                        html_page(fs::path(experiment_dir).filename().string(),
                                  "td{text-align:center;font-size:small} img{width:192px;image-rendering:pixelated}",
                                  h.str(), /*refresh_s=*/60));
}

}  // namespace cg
