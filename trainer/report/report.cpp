#include "trainer/report/report.h"

#include "common/atomic-file.h"
#include "common/error.h"
#include "trainer/data/image-io.h"
#include "trainer/report/plot.h"
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
  std::vector<Series> series;
  for (size_t i = 0; i < names_.size(); ++i) {
    Series s{names_[i], {}};
    for (const auto& r : rows_) s.points.push_back({static_cast<double>(r.total_iters), r.losses.values[i]});
    series.push_back(std::move(s));
  }
  draw_log_plot(png, title_ + " losses (log scale) vs iteration", "iterations", series);
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
