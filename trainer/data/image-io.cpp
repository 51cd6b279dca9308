#include "trainer/data/image-io.h"

#include "common/atomic-file.h"

#include <ATen/ATen.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cctype>

namespace cg {

namespace fs = std::filesystem;

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp" || ext == ".webp";
}

std::vector<std::string> list_images(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(ErrorKind::kImage, dir + ": no such folder");
  if (!fs::is_directory(dir, ec)) throw Error(ErrorKind::kImage, dir + ": not a folder");
  std::vector<std::string> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && has_image_extension(it->path())) files.push_back(it->path().string());
  }
  if (ec) throw Error(ErrorKind::kImage, dir + ": cannot list (" + ec.message() + ")");
  std::sort(files.begin(), files.end());
  return files;
}

cv::Mat read_rgb(const std::string& path) {
  cv::Mat raw;
  try {
    raw = cv::imread(path, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw Error(ErrorKind::kImage, path + ": cannot decode (" + e.err + ")");
  }
  if (raw.empty()) {
    std::error_code ec;
    if (!fs::exists(path, ec)) throw Error(ErrorKind::kImage, path + ": no such file");
    throw Error(ErrorKind::kImage, path + ": not a readable image (corrupt, truncated or unsupported)");
  }
  cv::Mat eight;
  switch (raw.depth()) {
    case CV_8U: eight = raw; break;
    case CV_16U: raw.convertTo(eight, CV_8U, 1.0 / 257.0); break;
    case CV_32F: raw.convertTo(eight, CV_8U, 255.0); break;
    default:
      throw Error(ErrorKind::kImage, path + ": unsupported sample type (depth " + std::to_string(raw.depth()) + ")");
  }
  cv::Mat rgb;
  switch (eight.channels()) {
    case 1: cv::cvtColor(eight, rgb, cv::COLOR_GRAY2RGB); break;
    case 2: {
      cv::Mat gray;
      cv::extractChannel(eight, gray, 0);
      cv::cvtColor(gray, rgb, cv::COLOR_GRAY2RGB);
      break;
    }
    case 3: cv::cvtColor(eight, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(eight, rgb, cv::COLOR_BGRA2RGB); break;
    default: throw Error(ErrorKind::kImage, path + ": unsupported channel count " + std::to_string(eight.channels()));
  }
  return rgb;
}

void write_rgb(const std::string& path, const cv::Mat& rgb) {
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  // Encoded in memory and written by us: cv::imwrite says only that it failed, not why, and a
  // write cut short would leave a torn image.
  std::vector<uchar> bytes;
  bool ok = false;
  const std::string ext = fs::path(path).extension().string();
  try {
    ok = cv::imencode(ext, bgr, bytes);
  } catch (const cv::Exception& e) {
    throw Error(ErrorKind::kImage, path + ": cannot encode as " + ext + " (" + e.err + ")");
  }
  if (!ok) throw Error(ErrorKind::kImage, path + ": cannot encode as " + ext);
  write_file_atomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

at::Tensor image_to_tensor(const cv::Mat& rgb) {
  // A plain loop rather than tensor ops: this runs on the loader threads, and tensor ops would
  // fan out into LibTorch's compute pool, which the training step is using.
  CV_Assert(rgb.type() == CV_8UC3);
  auto t = at::empty({3, rgb.rows, rgb.cols}, at::kFloat);
  float* out = t.data_ptr<float>();
  const size_t plane = static_cast<size_t>(rgb.rows) * static_cast<size_t>(rgb.cols);
  for (int y = 0; y < rgb.rows; ++y) {
    const uint8_t* row = rgb.ptr<uint8_t>(y);
    float* r = out + static_cast<size_t>(y) * static_cast<size_t>(rgb.cols);
    for (int x = 0; x < rgb.cols; ++x)
      for (size_t c = 0; c < 3; ++c)
        r[c * plane + static_cast<size_t>(x)] = row[3 * x + static_cast<int>(c)] / 127.5f - 1.0f;
  }
  return t;
}

cv::Mat tensor_to_image(const at::Tensor& t) {
  auto x = t.detach().to(at::kCPU, at::kFloat);
  if (x.dim() == 4) x = x[0];
  TORCH_CHECK(x.dim() == 3 && x.size(0) == 3, "tensor_to_image needs 3 x H x W");
  auto u8 = x.add(1.0).mul(127.5).round().clamp(0, 255).to(at::kByte).permute({1, 2, 0}).contiguous();
  cv::Mat m(static_cast<int>(u8.size(0)), static_cast<int>(u8.size(1)), CV_8UC3, u8.data_ptr());
  return m.clone();
}

}  // namespace cg
