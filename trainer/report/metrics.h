// Image-quality and segmentation scores for `cg-trainer eval`.
#pragma once

#include <opencv2/core.hpp>

namespace cg {

// Peak signal-to-noise ratio in dB of two RGB8 images of the same size (peak 255); capped at
// 100 dB for identical images.
double psnr(const cv::Mat& a, const cv::Mat& b);

// Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01,
// K2 0.03, computed per channel and averaged.
double ssim(const cv::Mat& a, const cv::Mat& b);

// Fraction of pixels where two class-index maps (CV_8U) agree.
double pixel_accuracy(const cv::Mat& predicted, const cv::Mat& truth);

}  // namespace cg
