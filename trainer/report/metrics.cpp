#include "trainer/report/metrics.h"

#include <opencv2/imgproc.hpp>

#include <cmath>
#include <stdexcept>

namespace cg {

double psnr(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) throw std::invalid_argument("psnr: images differ in size or type");
  cv::Mat d;
  cv::absdiff(a, b, d);
  d.convertTo(d, CV_64F);
  const cv::Scalar s = cv::sum(d.mul(d));
  const double mse = (s[0] + s[1] + s[2] + s[3]) / (static_cast<double>(a.total()) * a.channels());
  if (mse <= 1e-10) return 100.0;
  return 10.0 * std::log10(255.0 * 255.0 / mse);
}

double ssim(const cv::Mat& a, const cv::Mat& b) {
  if (a.size() != b.size() || a.type() != b.type()) throw std::invalid_argument("ssim: images differ in size or type");
  const double C1 = std::pow(0.01 * 255, 2), C2 = std::pow(0.03 * 255, 2);
  cv::Mat x, y;
  a.convertTo(x, CV_64F);
  b.convertTo(y, CV_64F);
  auto blur = [](const cv::Mat& m) {
    cv::Mat o;
    cv::GaussianBlur(m, o, cv::Size(11, 11), 1.5);
    return o;
  };
  const cv::Mat mx = blur(x), my = blur(y);
  const cv::Mat mx2 = mx.mul(mx), my2 = my.mul(my), mxy = mx.mul(my);
  const cv::Mat sx = blur(x.mul(x)) - mx2, sy = blur(y.mul(y)) - my2, sxy = blur(x.mul(y)) - mxy;
  // Scalar::all: adding a plain double to a multi-channel Mat would touch the first channel only.
  const cv::Scalar c1 = cv::Scalar::all(C1), c2 = cv::Scalar::all(C2);
  cv::Mat t1 = 2 * mxy + c1, t2 = 2 * sxy + c2, t3 = mx2 + my2 + c1, t4 = sx + sy + c2;
  cv::Mat num = t1.mul(t2), den = t3.mul(t4), map;
  cv::divide(num, den, map);
  const cv::Scalar m = cv::mean(map);
  double total = 0;
  for (int c = 0; c < a.channels(); ++c) total += m[c];
  return total / a.channels();
}

double pixel_accuracy(const cv::Mat& predicted, const cv::Mat& truth) {
  if (predicted.size() != truth.size() || predicted.type() != CV_8U || truth.type() != CV_8U)
    throw std::invalid_argument("pixel_accuracy: maps differ in size or are not class-index maps");
  return static_cast<double>(cv::countNonZero(predicted == truth)) / static_cast<double>(truth.total());
}

}  // namespace cg
