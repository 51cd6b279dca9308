#include "trainer/data/preprocess.h"

#include "model/generator-layout.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace cg {

cv::Mat resize_image(const cv::Mat& rgb, int width, int height) {
  if (rgb.cols == width && rgb.rows == height) return rgb;
  cv::Mat out;
  const bool shrink = width < rgb.cols && height < rgb.rows;
  cv::resize(rgb, out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_CUBIC);
  return out;
}

namespace {

// Official __scale_width: width becomes `target`, height keeps the aspect ratio but is at least
// `crop`; an image already `target` wide and tall enough is left alone.
cv::Mat scale_width(const cv::Mat& img, int target, int crop) {
  if (img.cols == target && img.rows >= crop) return img;
  const int h = std::max(static_cast<int>(static_cast<double>(target) * img.rows / img.cols), crop);
  return resize_image(img, target, h);
}

cv::Mat random_crop(const cv::Mat& img, int size, Rng& rng, bool& upscaled) {
  cv::Mat src = img;
  if (src.cols < size || src.rows < size) {
    // Enlarge just enough, keeping the aspect ratio, so the crop fits.
    const double s = std::max(static_cast<double>(size) / src.cols, static_cast<double>(size) / src.rows);
    src = resize_image(src, std::max(size, static_cast<int>(std::ceil(src.cols * s))),
                       std::max(size, static_cast<int>(std::ceil(src.rows * s))));
    upscaled = true;
  }
  const int x = static_cast<int>(rng.below(static_cast<uint64_t>(src.cols - size + 1)));
  const int y = static_cast<int>(rng.below(static_cast<uint64_t>(src.rows - size + 1)));
  return src(cv::Rect(x, y, size, size));
}

// The nearest multiple of the generator's size multiple (4), halves to even, as Python's round()
// in the official __make_power_2(base=4).
int round_to_multiple(int v) {
  const int m = static_cast<int>(kSizeMultiple);
  return std::max(m, static_cast<int>(std::nearbyint(static_cast<double>(v) / m)) * m);
}

}  // namespace

PreprocessResult preprocess(const cv::Mat& rgb, const PreprocessOptions& o, Rng& rng) {
  PreprocessResult r;
  const int load = static_cast<int>(o.load_size), crop = static_cast<int>(o.crop_size);
  cv::Mat img = rgb;
  if (o.mode == "resize_and_crop") {
    img = random_crop(resize_image(img, load, load), crop, rng, r.upscaled);
  } else if (o.mode == "crop") {
    img = random_crop(img, crop, rng, r.upscaled);
  } else if (o.mode == "scale_width") {
    img = scale_width(img, load, crop);
  } else if (o.mode == "scale_width_and_crop") {
    img = random_crop(scale_width(img, load, crop), crop, rng, r.upscaled);
  } else if (o.mode != "none") {
    throw std::invalid_argument("unknown preprocess mode " + o.mode);
  }
  // The generator needs sides that are multiples of 4 (scale_width can produce any height).
  const int w = round_to_multiple(img.cols), h = round_to_multiple(img.rows);
  if (w != img.cols || h != img.rows) img = resize_image(img, w, h);
  if (o.flip && rng.coin()) {
    cv::Mat flipped;
    cv::flip(img, flipped, 1);
    img = flipped;
  } else {
    img = img.clone();  // own the pixels: `img` may be a view into a shared decode
  }
  r.image = img;
  return r;
}

std::pair<PreprocessResult, PreprocessResult> preprocess_pair(const cv::Mat& a, const cv::Mat& b,
                                                              const PreprocessOptions& o, Rng& rng) {
  if (a.size() != b.size()) throw std::invalid_argument("preprocess_pair: the two images differ in size");
  // Every draw of preprocess() depends only on the image size and the generator's state, so two
  // generators in one state give both images the same crop offset and flip.
  Rng same = rng;
  PreprocessResult ra = preprocess(a, o, rng);
  PreprocessResult rb = preprocess(b, o, same);
  return {std::move(ra), std::move(rb)};
}

}  // namespace cg
