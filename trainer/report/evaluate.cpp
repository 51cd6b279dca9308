#include "trainer/report/evaluate.h"

#include "common/error.h"
#include "engine/cv-frame.h"
#include "trainer/data/aligned-dataset.h"
#include "trainer/data/image-io.h"
#include "trainer/data/synth.h"
#include "trainer/report/metrics.h"

#include <filesystem>
#include <memory>

namespace cg {

namespace fs = std::filesystem;

namespace {

// One test image and its truth: two files (an unaligned synth dataset's testA and testA_truth),
// or the halves of one AB file (an aligned one's test/), input on the `input_left` side.
struct TestPair {
  std::string input, truth;
  bool aligned = false, input_left = true;

  std::pair<cv::Mat, cv::Mat> read() const {
    if (!aligned) return {read_rgb(input), read_rgb(truth)};
    auto [left, right] = split_aligned(read_rgb(input), input);
    // Owned, continuous copies: the halves are views with the whole row's stride.
    return input_left ? std::make_pair(left.clone(), right.clone()) : std::make_pair(right.clone(), left.clone());
  }
};

std::vector<TestPair> paired(const fs::path& root, const char* input, const char* truth) {
  std::vector<std::string> files;
  try {
    files = list_images((root / input).string());
  } catch (const Error& e) {
    throw Error(ErrorKind::kUsage, std::string(e.what()) + " (eval needs a dataset made by cg-trainer synth)");
  }
  if (files.empty()) throw Error(ErrorKind::kUsage, (root / input).string() + ": no images");
  std::vector<TestPair> out;
  for (const auto& f : files) {
    const fs::path t = root / truth / fs::path(f).filename();
    if (!fs::exists(t)) throw Error(ErrorKind::kUsage, t.string() + ": missing ground truth for " + f);
    out.push_back({f, t.string()});
  }
  return out;
}

// A synth --aligned dataset: test/ holds label | photo pairs.
std::vector<TestPair> aligned_pairs(const fs::path& root, bool input_left) {
  const std::vector<std::string> files = list_images((root / "test").string());
  if (files.empty()) throw Error(ErrorKind::kUsage, (root / "test").string() + ": no images");
  std::vector<TestPair> out;
  for (const auto& f : files) out.push_back({f, f, true, input_left});
  return out;
}

}  // namespace

EvalScores evaluate(const std::string& dataroot, const std::string& model_A, const std::string& model_B,
                    const std::string& device_name, const std::string& teacher) {
  const fs::path root(dataroot);
  if (!fs::is_directory(root)) throw Error(ErrorKind::kUsage, dataroot + ": no such dataset folder");
  // The labels -> photo pairs are testA / testA_truth, or the halves of test/ in an aligned
  // dataset (the same test facades, so the scores of both kinds compare).
  std::error_code ec;
  const bool aligned = !fs::exists(root / "testA", ec) && fs::is_directory(root / "test", ec);
  const auto a_pairs = aligned ? aligned_pairs(root, true) : paired(root, "testA", "testA_truth");
  const auto b_pairs = model_B.empty() ? decltype(a_pairs){}
                       : aligned       ? aligned_pairs(root, false)
                                       : paired(root, "testB", "testB_truth");
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
  for (const auto& p : a_pairs) {
    const auto [x, t] = p.read();
    if (x.size() != t.size()) throw Error(ErrorKind::kUsage, p.truth + ": not the size of " + p.input);
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
  for (const auto& p : b_pairs) {
    const auto [x, t] = p.read();
    if (x.size() != t.size()) throw Error(ErrorKind::kUsage, p.truth + ": not the size of " + p.input);
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
