// Running a G.pt generator on whole images of any size.
#pragma once

#include <c10/core/Device.h>
#include <opencv2/core.hpp>
#include <torch/csrc/jit/api/module.h>

namespace cg {

// Translates an RGB8 image: reflect-pads it to sides that are multiples of 4 (at least 8),
// runs the generator and crops the result back to the input's size.
cv::Mat translate_image(torch::jit::Module& generator, const cv::Mat& rgb, const c10::Device& device);

}  // namespace cg
