// Small synthetic clips for the temporal tests: a smooth random texture panning at a known
// speed, written as PNG sequences (lossless, and readable by any OpenCV).
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace cg::test {

// A texture with features a few pixels across, in [0.2, 0.8] of the 8-bit range so that noise
// added later is not clipped.
inline cv::Mat smooth_texture(int width, int height, unsigned seed) {
  cv::RNG rng(seed);
  cv::Mat noise(height, width, CV_32FC3);
  rng.fill(noise, cv::RNG::UNIFORM, 0.0, 1.0);
  cv::GaussianBlur(noise, noise, {0, 0}, 2.5);
  cv::normalize(noise, noise, 0.2 * 255, 0.8 * 255, cv::NORM_MINMAX);
  cv::Mat out;
  noise.convertTo(out, CV_8UC3);
  return out;
}

// `frames` frames of `width` x `height` that look at a larger texture moving by (dx, dy) pixels a
// frame (sub-pixel moves resampled bilinearly).
inline std::vector<cv::Mat> panning_clip(int width, int height, int frames, double dx, double dy, unsigned seed = 1) {
  const int margin = static_cast<int>(std::ceil((std::abs(dx) + std::abs(dy)) * frames)) + 4;
  const cv::Mat texture = smooth_texture(width + 2 * margin, height + 2 * margin, seed);
  std::vector<cv::Mat> clip;
  for (int t = 0; t < frames; ++t) {
    // The view's origin moves by -(dx, dy), so the content moves by +(dx, dy).
    const cv::Mat m = (cv::Mat_<double>(2, 3) << 1, 0, margin - dx * t, 0, 1, margin - dy * t);
    cv::Mat frame;
    cv::warpAffine(texture, frame, m, {width, height}, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP, cv::BORDER_REFLECT);
    clip.push_back(frame);
  }
  return clip;
}

// Each frame plus its own Gaussian noise of `sigma` (in [0, 1] units): flicker of known strength.
inline std::vector<cv::Mat> with_noise(const std::vector<cv::Mat>& clip, double sigma, unsigned seed) {
  cv::RNG rng(seed);
  std::vector<cv::Mat> out;
  for (const auto& f : clip) {
    cv::Mat n(f.size(), CV_32FC3), g;
    rng.fill(n, cv::RNG::NORMAL, 0.0, sigma * 255);
    f.convertTo(g, CV_32FC3);
    g += n;
    g.convertTo(g, CV_8UC3);  // rounds and saturates
    out.push_back(g);
  }
  return out;
}

// Writes `clip` (RGB) as DIR/%03d.png and returns that pattern.
inline std::string write_clip(const std::vector<cv::Mat>& clip, const std::string& dir) {
  std::filesystem::create_directories(dir);
  for (size_t i = 0; i < clip.size(); ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "/%03zu.png", i);
    cv::Mat bgr;
    cv::cvtColor(clip[i], bgr, cv::COLOR_RGB2BGR);
    cv::imwrite(dir + name, bgr);
  }
  return dir + "/%03d.png";
}

}  // namespace cg::test
