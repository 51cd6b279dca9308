#include "trainer/report/evaluate.h"

#include "common/error.h"
#include "engine/cv-frame.h"
#include "trainer/data/image-io.h"
#include "trainer/data/synth.h"
#include "trainer/report/metrics.h"

#include <filesystem>
#include <memory>

namespace cg {

namespace fs = std::filesystem;

namespace {

std::vector<std::pair<std::string, std::string>> paired(const fs::path& root, const char* input, const char* truth) {
  std::vector<std::string> files;
  try {
    files = list_images((root / input).string());
  } catch (const Error& e) {
    throw Error(ErrorKind::kUsage, std::string(e.what()) + " (eval needs a dataset made by cg-trainer synth)");
  }
  if (files.empty()) throw Error(ErrorKind::kUsage, (root / input).string() + ": no images");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : files) {
    const fs::path t = root / truth / fs::path(f).filename();
    if (!fs::exists(t)) throw Error(ErrorKind::kUsage, t.string() + ": missing ground truth for " + f);
    out.emplace_back(f, t.string());
  }
  return out;
}

}  // namespace

EvalScores evaluate(const std::string& dataroot, const std::string& model_A, const std::string& model_B,
                    const std::string& device_name, const std::string& teacher) {
  const fs::path root(dataroot);
  if (!fs::is_directory(root)) throw Error(ErrorKind::kUsage, dataroot + ": no such dataset folder");
  const auto a_pairs = paired(root, "testA", "testA_truth");
  const auto b_pairs = model_B.empty() ? decltype(a_pairs){} : paired(root, "testB", "testB_truth");
  auto engine = [&](const std::string& path) {
    EngineOptions options;
    options.device = device_name;
    options.model_path = path;
    return std::make_unique<Engine>(options);
  };
  const auto G_A = engine(model_A);
  const auto G_B = model_B.empty() ? nullptr : engine(model_B);
  const auto T = teacher.empty() ? nullptr : engine(teacher);
  EvalScores s;
  for (const auto& [in, truth] : a_pairs) {
    const cv::Mat x = read_rgb(in), t = read_rgb(truth);
    if (x.size() != t.size()) throw Error(ErrorKind::kUsage, truth + ": not the size of " + in);
    const cv::Mat y = translate_image(*G_A, x);
    s.psnr += psnr(y, t);
    s.ssim += ssim(y, t);
    s.identity_psnr += psnr(x, t);
    s.identity_ssim += ssim(x, t);
    if (T) {
      const cv::Mat ty = translate_image(*T, x);
      s.teacher_psnr += psnr(y, ty);
      s.teacher_ssim += ssim(y, ty);
    }
  }
  for (const auto& [in, truth] : b_pairs) {
    const cv::Mat x = read_rgb(in), t = read_rgb(truth);
    if (x.size() != t.size()) throw Error(ErrorKind::kUsage, truth + ": not the size of " + in);
    const cv::Mat truth_classes = nearest_classes(t);
    s.accuracy += pixel_accuracy(nearest_classes(translate_image(*G_B, x)), truth_classes);
    s.identity_accuracy += pixel_accuracy(nearest_classes(x), truth_classes);
  }
  s.images_A = static_cast<int>(a_pairs.size());
  s.images_B = static_cast<int>(b_pairs.size());
  s.psnr /= s.images_A;
  s.ssim /= s.images_A;
  s.identity_psnr /= s.images_A;
  s.identity_ssim /= s.images_A;
  s.teacher_psnr /= s.images_A;
  s.teacher_ssim /= s.images_A;
  if (s.images_B > 0) {
    s.accuracy /= s.images_B;
    s.identity_accuracy /= s.images_B;
  }
  return s;
}

}  // namespace cg
