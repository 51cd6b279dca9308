// The official preprocessing modes (data/base_dataset.py get_transform) on 8-bit RGB images.
#pragma once

#include "trainer/train/random.h"

#include <opencv2/core.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace cg {

struct PreprocessOptions {
  std::string mode = "resize_and_crop";  // resize_and_crop | crop | scale_width | scale_width_and_crop | none
  int64_t load_size = 286;
  int64_t crop_size = 256;
  bool flip = true;
};

struct PreprocessResult {
  cv::Mat image;
  bool upscaled = false;  // the image was smaller than the crop and had to be enlarged
};

// Resizes, crops and flips as `o` says, drawing crop offsets and the flip from `rng`. The result
// always has sides that are multiples of 4 (what the generator needs): `none` rounds them to the
// nearest multiple, as the official __make_power_2(base=4).
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
