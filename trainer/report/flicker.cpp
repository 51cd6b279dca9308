#include "trainer/report/flicker.h"

#include "common/error.h"
#include "trainer/report/plot.h"
#include "video/flow.h"

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <cmath>
#include <filesystem>
#include <iomanip>
#include <limits>
#include <memory>
#include <numeric>
#include <sstream>

namespace cg {

namespace {

// One video read frame by frame as 8-bit RGB at a given size.
class VideoFrames {
 public:
  explicit VideoFrames(const std::string& path) : path_(path) {
    // A sequence pattern (frames/%04d.png) names no single file.
    std::error_code ec;
    if (path.find('%') == std::string::npos && !std::filesystem::exists(path, ec))
      throw Error(ErrorKind::kUsage, path + ": no such file");
    if (path.find('%') == std::string::npos && std::filesystem::is_directory(path, ec))
      throw Error(ErrorKind::kUsage, path + ": is a folder; for an image sequence give a pattern such as " +
                                         (std::filesystem::path(path) / "%04d.png").string());
    if (!capture_.open(path)) throw Error(ErrorKind::kUsage, path + ": cannot be opened as a video");
  }

  // The next frame, resized to `size` when it is given and differs; false at the end.
  bool next(cv::Mat& rgb, cv::Size size = {}) {
    cv::Mat bgr;
    if (!capture_.read(bgr) || bgr.empty()) return false;
    ++count_;
    if (bgr.channels() == 1) cv::cvtColor(bgr, bgr, cv::COLOR_GRAY2BGR);
    if (bgr.channels() == 4) cv::cvtColor(bgr, bgr, cv::COLOR_BGRA2BGR);
    if (bgr.depth() != CV_8U) bgr.convertTo(bgr, CV_8U, bgr.depth() == CV_16U ? 1.0 / 257 : 1.0);
    cv::cvtColor(bgr, rgb, cv::COLOR_BGR2RGB);
    if (!size.empty() && rgb.size() != size) {
      const bool shrink = rgb.cols > size.width || rgb.rows > size.height;
      cv::resize(rgb, rgb, size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    }
    return true;
  }

  // Reads to the end: how many frames the video has in all.
  int count_all() {
    cv::Mat rest;
    while (capture_.read(rest) && !rest.empty()) ++count_;
    return count_;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  cv::VideoCapture capture_;
  int count_ = 0;
};

// The videos ended at different frames: name each with its count.
[[noreturn]] void different_lengths(std::vector<VideoFrames*>& videos) {
  std::string counts;
  for (auto* v : videos) counts += (counts.empty() ? "" : ", ") + v->path() + " " + std::to_string(v->count_all());
  throw Error(ErrorKind::kUsage, "the videos have different frame counts (" + counts +
                                     "): compare a translation with the "
                                     "video it was made from");
}

double mean_squared_error(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat d;
  cv::absdiff(a, b, d);
  d.convertTo(d, CV_64F);
  const cv::Scalar s = cv::sum(d.mul(d));
  return (s[0] + s[1] + s[2]) / (static_cast<double>(a.total()) * a.channels());
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

}  // namespace

double FlickerReport::mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

FlickerReport measure_flicker(const FlickerOptions& o) {
  VideoFrames input(o.input), output(o.output);
  std::unique_ptr<VideoFrames> reference;
  if (!o.reference.empty()) reference = std::make_unique<VideoFrames>(o.reference);
  std::vector<VideoFrames*> all = {&input, &output};
  if (reference) all.push_back(reference.get());

  FlickerReport r;
  video::FlowEstimator flow(video::FlowPreset::kMedium);
  cv::Mat in[2], out[2], ref[2];
  for (int t = 0;; ++t) {
    const int now = t % 2, before = 1 - now;
    const bool more = input.next(in[now]);
    const cv::Size size = more ? in[now].size() : cv::Size();
    const bool more_out = output.next(out[now], size);
    const bool more_ref = reference && reference->next(ref[now], size);
    if (more != more_out || (reference && more != more_ref)) different_lengths(all);
    if (!more) break;
    r.frames = t + 1;
    if (reference) r.mse_to_reference.push_back(mean_squared_error(out[now], ref[now]));
    if (t == 0) continue;
    if (in[now].size() != in[before].size())
      throw Error(ErrorKind::kUsage, o.input + ": frame " + std::to_string(t) + " changes the video's size");
    const video::FramePair pair = video::frame_pair(flow, in[before], in[now]);
    r.input_error.push_back(pair.warping_error(in[before], in[now]));
    r.output_error.push_back(pair.warping_error(out[before], out[now]));
    if (reference) r.reference_error.push_back(pair.warping_error(ref[before], ref[now]));
  }
  if (r.frames == 0) throw Error(ErrorKind::kUsage, o.input + ": no video frames could be decoded");
  if (r.frames < 2) throw Error(ErrorKind::kUsage, o.input + ": has one frame; flicker needs at least two");
  r.width = in[0].cols;
  r.height = in[0].rows;
  return r;
}

double FlickerReport::psnr_to_reference() const {
  const double mse = mean(mse_to_reference);
  return mse > 0 ? 10.0 * std::log10(255.0 * 255.0 / mse) : std::numeric_limits<double>::infinity();
}

std::string FlickerReport::to_text() const {
  const double in = mean(input_error), out = mean(output_error);
  std::ostringstream s;
  s << "frames: " << frames << " (" << frames - 1 << " pairs) at " << width << "x" << height << "\n";
  s << "warping error of the input:     " << fixed(in, 6) << "  (the floor: flow error and real change)\n";
  s << "warping error of the output:    " << fixed(out, 6) << "  (" << fixed(in > 0 ? out / in : 0, 2)
    << "x the input's)\n";
  if (!reference_error.empty()) {
    const double ref = mean(reference_error);
    s << "warping error of the reference: " << fixed(ref, 6) << "  (" << fixed(in > 0 ? ref / in : 0, 2)
      << "x the input's; the output's is " << fixed(ref > 0 ? out / ref : 0, 2) << "x the reference's)\n";
    s << "PSNR of the output to the reference: " << fixed(psnr_to_reference(), 2) << " dB\n";
  } else {
    s << "(a low warping error alone can mean a frozen or blurred video: give --reference to see the PSNR to a "
         "per-frame translation)\n";
  }
  return s.str();
}

std::string FlickerReport::to_json() const {
  nlohmann::ordered_json j = {
      {"frames", frames},
      {"width", width},
      {"height", height},
      {"input_warping_error", mean(input_error)},
      {"output_warping_error", mean(output_error)},
      {"output_to_input_ratio", mean(input_error) > 0 ? mean(output_error) / mean(input_error) : 0.0},
      {"per_pair", {{"input", input_error}, {"output", output_error}}}};
  if (!reference_error.empty()) {
    j["reference_warping_error"] = mean(reference_error);
    // JSON has no infinity: identical videos give null.
    const double p = psnr_to_reference();
    j["psnr_output_to_reference_db"] = std::isfinite(p) ? nlohmann::json(p) : nlohmann::json();
    j["per_pair"]["reference"] = reference_error;
  }
  return j.dump(2);
}

void FlickerReport::plot(const std::string& png) const {
  const auto series = [](const std::string& name, const std::vector<double>& v) {
    Series s{name, {}};
    for (size_t i = 0; i < v.size(); ++i) s.points.push_back({static_cast<double>(i + 1), v[i]});
    return s;
  };
  std::vector<Series> all = {series("output", output_error)};
  if (!reference_error.empty()) all.push_back(series("reference", reference_error));
  all.push_back(series("input", input_error));
  draw_log_plot(png, "warping error per frame (log scale)", "frame", all);
}

}  // namespace cg
