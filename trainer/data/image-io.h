// Reading images of any common kind into 8-bit RGB, and converting between images and tensors.
#pragma once

#include <ATen/core/Tensor.h>
#include <opencv2/core.hpp>
#include "common/error.h"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace cg {

// jpg, jpeg, png, bmp, webp in any letter case.
bool has_image_extension(const std::filesystem::path& p);

// The image files directly inside `dir`, sorted by name. Throws Error when `dir` is missing
// or not a folder.
std::vector<std::string> list_images(const std::string& dir);

// 8-bit RGB, 3 channels: grayscale is replicated, alpha dropped (as PIL's convert('RGB')),
// 16-bit scaled to 8 bits. Throws Error naming the file and the reason.
cv::Mat read_rgb(const std::string& path);

// Writes an 8-bit RGB image in the format of the path's extension, atomically. Throws Error: kImage
// when it cannot be encoded so, kIo naming the file and the system's reason when it cannot be
// written.
void write_rgb(const std::string& path, const cv::Mat& rgb);

// RGB8 H x W -> float 3 x H x W in [-1, 1].
at::Tensor image_to_tensor(const cv::Mat& rgb);
// float 3 x H x W (or 1 x 3 x H x W) in [-1, 1] -> RGB8, values clamped.
cv::Mat tensor_to_image(const at::Tensor& t);

}  // namespace cg
