#include "inference.h"

#include "image-io.h"
#include "model-file.h"

#include <opencv2/core.hpp>
#include <torch/torch.h>

#include <algorithm>

namespace cg {

cv::Mat translate_image(torch::jit::Module& generator, const cv::Mat& rgb, const c10::Device& device) {
  auto up = [](int v) { return std::max<int>(static_cast<int>(kMinSize), (v + 3) / 4 * 4); };
  const int W = up(rgb.cols), H = up(rgb.rows);
  cv::Mat padded = rgb;
  // Reflection needs a border smaller than the side; tiny images repeat the edge instead.
  if (W != rgb.cols || H != rgb.rows)
    cv::copyMakeBorder(rgb, padded, 0, H - rgb.rows, 0, W - rgb.cols,
                       (H - rgb.rows < rgb.rows && W - rgb.cols < rgb.cols) ? cv::BORDER_REFLECT_101 : cv::BORDER_REPLICATE);
  torch::NoGradGuard no_grad;
  auto x = image_to_tensor(padded).unsqueeze(0).to(device);
  auto y = generator.forward({x}).toTensor();
  cv::Mat out = tensor_to_image(y);
  return out(cv::Rect(0, 0, rgb.cols, rgb.rows)).clone();
}

}  // namespace cg
