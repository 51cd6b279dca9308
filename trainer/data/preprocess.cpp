#include "trainer/data/preprocess.h"

#include "common/error.h"
#include "trainer/train/options.h"

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

namespace cg {

namespace {

struct ModeFacts {
  PreprocessMode mode;
  const char* name;
  bool crops;
  bool resizes_before_crop;
};

// In the enum's order.
constexpr ModeFacts kModes[] = {
    {PreprocessMode::kResizeAndCrop, "resize_and_crop", true, true},
    {PreprocessMode::kCrop, "crop", true, false},
    {PreprocessMode::kScaleWidth, "scale_width", false, false},
    {PreprocessMode::kScaleWidthAndCrop, "scale_width_and_crop", true, true},
    {PreprocessMode::kNone, "none", false, false},
};

constexpr bool in_enum_order() {
  for (size_t i = 0; i < std::size(kModes); ++i)
    if (static_cast<size_t>(kModes[i].mode) != i) return false;
  return true;
}
static_assert(in_enum_order(), "kModes is indexed by PreprocessMode");

const ModeFacts& facts(PreprocessMode m) { return kModes[static_cast<size_t>(m)]; }

}  // namespace

const std::vector<std::string>& preprocess_mode_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& m : kModes) n.push_back(m.name);
    return n;
  }();
  return names;
}

const std::string& preprocess_mode_name(PreprocessMode m) { return preprocess_mode_names()[static_cast<size_t>(m)]; }

PreprocessMode parse_preprocess_mode(const std::string& name) {
  return static_cast<PreprocessMode>(choice_index(preprocess_mode_names(), name, "--preprocess"));
}

bool crops(PreprocessMode m) { return facts(m).crops; }

bool resizes_before_crop(PreprocessMode m) { return facts(m).resizes_before_crop; }

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

// The nearest side that fits the generator's rule, halves to even, as Python's round() in the
// official __make_power_2(base=4).
int round_to_rule(int v, const SizeRule& rule) {
  const double m = static_cast<double>(rule.multiple);
  const auto nearest = static_cast<int64_t>(std::nearbyint(static_cast<double>(v) / m)) * rule.multiple;
  return static_cast<int>(std::max(nearest, rule.padded(rule.min)));
}

}  // namespace

PreprocessResult preprocess(const cv::Mat& rgb, const PreprocessOptions& o, Rng& rng) {
  PreprocessResult r;
  const int load = static_cast<int>(o.load_size), crop = static_cast<int>(o.crop_size);
  cv::Mat img = rgb;
  switch (o.mode) {
    case PreprocessMode::kResizeAndCrop: img = random_crop(resize_image(img, load, load), crop, rng, r.upscaled); break;
    case PreprocessMode::kCrop: img = random_crop(img, crop, rng, r.upscaled); break;
    case PreprocessMode::kScaleWidth: img = scale_width(img, load, crop); break;
    case PreprocessMode::kScaleWidthAndCrop:
      img = random_crop(scale_width(img, load, crop), crop, rng, r.upscaled);
      break;
    case PreprocessMode::kNone: break;
  }
  // Crops fit already (the options are checked against the rule); the other modes give any size.
  const int w = round_to_rule(img.cols, o.size_rule), h = round_to_rule(img.rows, o.size_rule);
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
