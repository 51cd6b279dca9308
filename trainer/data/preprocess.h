// The official preprocessing modes (data/base_dataset.py get_transform) on 8-bit RGB images.
#pragma once

#include "common/defaults.h"
#include "model/generator-layout.h"
#include "trainer/train/random.h"

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace cg {

// The official --preprocess modes. Their names and what each does to an image's size are written
// once, in preprocess.cpp; the option's choices, its checks and the datasets read them from there.
enum class PreprocessMode { kResizeAndCrop, kCrop, kScaleWidth, kScaleWidthAndCrop, kNone };

// "resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none", in the enum's order.
const std::vector<std::string>& preprocess_mode_names();
const std::string& preprocess_mode_name(PreprocessMode m);
// Throws Error (usage) naming --preprocess and its choices.
PreprocessMode parse_preprocess_mode(const std::string& name);
// The mode ends in a crop_size x crop_size crop; the others keep each image's own size (rounded to
// the generator's multiple), so their images differ in size.
bool crops(PreprocessMode m);
// The mode resizes to load_size before its crop, so load_size must be at least crop_size.
bool resizes_before_crop(PreprocessMode m);

struct PreprocessOptions {
  PreprocessMode mode = PreprocessMode::kResizeAndCrop;
  int64_t load_size = 286;
  int64_t crop_size = kDefaultCropSize;
  bool flip = true;
  // The sides the generator takes (its size_rule): results are rounded to fit it.
  SizeRule size_rule = {kSizeMultiple, kMinSize};
};

struct PreprocessResult {
  cv::Mat image;
  bool upscaled = false;  // the image was smaller than the crop and had to be enlarged
};

// Resizes, crops and flips as `o` says, drawing crop offsets and the flip from `rng`. The result
// always fits o.size_rule: `none` and scale_width round the sides to the nearest multiple, as the
// official __make_power_2(base=4) does for the ResNets' 4.
PreprocessResult preprocess(const cv::Mat& rgb, const PreprocessOptions& o, Rng& rng);

// The same resize, crop offset and flip on two images of one size: the halves of an aligned AB
// image, which the official get_params/get_transform transform alike so they stay registered.
// Throws std::invalid_argument when the sizes differ.
std::pair<PreprocessResult, PreprocessResult> preprocess_pair(const cv::Mat& a, const cv::Mat& b,
                                                              const PreprocessOptions& o, Rng& rng);

// Resampling as the official code's bicubic resize, with area averaging when shrinking (a bicubic
// kernel alone aliases when downscaling, where PIL widens its kernel).
cv::Mat resize_image(const cv::Mat& rgb, int width, int height);

}  // namespace cg
