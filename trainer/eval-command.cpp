#include "eval-command.h"

#include "device.h"
#include "image-io.h"
#include "inference.h"
#include "metrics.h"
#include "model-file.h"
#include "options.h"
#include "synth.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>

namespace cg {

namespace fs = std::filesystem;

namespace {

std::vector<std::pair<std::string, std::string>> paired(const fs::path& root, const char* input, const char* truth) {
  std::vector<std::string> files;
  try {
    files = list_images((root / input).string());
  } catch (const ImageError& e) {
    throw TrainError(std::string(e.what()) + " (eval needs a dataset made by cg-trainer synth)");
  }
  if (files.empty()) throw TrainError((root / input).string() + ": no images");
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& f : files) {
    const fs::path t = root / truth / fs::path(f).filename();
    if (!fs::exists(t)) throw TrainError(t.string() + ": missing ground truth for " + f);
    out.emplace_back(f, t.string());
  }
  return out;
}

LoadedModel load(const std::string& path, const c10::Device& d) {
  try {
    return load_generator(path, d);
  } catch (const ModelFileError& e) {
    throw TrainError(e.what());
  }
}

}  // namespace

EvalScores evaluate(const std::string& dataroot, const std::string& model_A, const std::string& model_B,
                    const std::string& device_name) {
  const c10::Device device = resolve_device(device_name);
  const fs::path root(dataroot);
  if (!fs::is_directory(root)) throw TrainError(dataroot + ": no such dataset folder");
  const auto a_pairs = paired(root, "testA", "testA_truth");
  const auto b_pairs = paired(root, "testB", "testB_truth");
  auto G_A = load(model_A, device), G_B = load(model_B, device);
  EvalScores s;
  try {
    for (const auto& [in, truth] : a_pairs) {
      const cv::Mat x = read_rgb(in), t = read_rgb(truth);
      if (x.size() != t.size()) throw TrainError(truth + ": not the size of " + in);
      const cv::Mat y = translate_image(G_A.module, x, device);
      s.psnr += psnr(y, t);
      s.ssim += ssim(y, t);
      s.identity_psnr += psnr(x, t);
      s.identity_ssim += ssim(x, t);
    }
    for (const auto& [in, truth] : b_pairs) {
      const cv::Mat x = read_rgb(in), t = read_rgb(truth);
      if (x.size() != t.size()) throw TrainError(truth + ": not the size of " + in);
      const cv::Mat truth_classes = nearest_classes(t);
      s.accuracy += pixel_accuracy(nearest_classes(translate_image(G_B.module, x, device)), truth_classes);
      s.identity_accuracy += pixel_accuracy(nearest_classes(x), truth_classes);
    }
  } catch (const ImageError& e) {
    throw TrainError(e.what());
  }
  s.images_A = static_cast<int>(a_pairs.size());
  s.images_B = static_cast<int>(b_pairs.size());
  s.psnr /= s.images_A;
  s.ssim /= s.images_A;
  s.identity_psnr /= s.images_A;
  s.identity_ssim /= s.images_A;
  s.accuracy /= s.images_B;
  s.identity_accuracy /= s.images_B;
  return s;
}

void add_eval_command(CLI::App& app) {
  struct Opt {
    std::string dataroot, name, checkpoints_dir = "./checkpoints", model_A, model_B, device = "auto", json;
  };
  auto opt = std::make_shared<Opt>();
  auto* cmd = app.add_subcommand("eval",
                                 "Score generators on a synthetic dataset (cg-trainer synth): PSNR and SSIM of G_A(testA) "
                                 "against the true renderings, per-pixel label accuracy of G_B(testB)");
  cmd->add_option("--dataroot", opt->dataroot, "dataset made by cg-trainer synth")->required();
  cmd->add_option("--name", opt->name, "experiment whose G_A.pt and G_B.pt to score");
  cmd->add_option("--checkpoints-dir,--checkpoints_dir", opt->checkpoints_dir, "where experiments are saved")->capture_default_str();
  cmd->add_option("--model-a,--model_A", opt->model_A, "labels -> photo generator (default CHECKPOINTS_DIR/NAME/G_A.pt)");
  cmd->add_option("--model-b,--model_B", opt->model_B, "photo -> labels generator (default CHECKPOINTS_DIR/NAME/G_B.pt)");
  cmd->add_option("--device", opt->device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->add_option("--json", opt->json, "also write the scores to this JSON file");
  cmd->callback([opt] {
    const fs::path exp = fs::path(opt->checkpoints_dir) / opt->name;
    std::string a = opt->model_A, b = opt->model_B;
    if (a.empty() || b.empty()) {
      if (opt->name.empty()) throw TrainError("eval: give --name (an experiment) or both --model-a and --model-b");
      if (a.empty()) a = (exp / "G_A.pt").string();
      if (b.empty()) b = (exp / "G_B.pt").string();
    }
    const EvalScores s = evaluate(opt->dataroot, a, b, opt->device);
    std::cout << std::fixed << std::setprecision(4) << "labels -> photo (G_A, " << s.images_A << " images): PSNR "
              << std::setprecision(2) << s.psnr << " dB, SSIM " << std::setprecision(4) << s.ssim << "   (identity: PSNR "
              << std::setprecision(2) << s.identity_psnr << " dB, SSIM " << std::setprecision(4) << s.identity_ssim << ")\n"
              << "photo -> labels (G_B, " << s.images_B << " images): per-pixel accuracy " << s.accuracy
              << "   (identity: " << s.identity_accuracy << ")\n";
    if (!opt->json.empty()) {
      nlohmann::ordered_json j = {{"images_A", s.images_A}, {"images_B", s.images_B}, {"psnr", s.psnr}, {"ssim", s.ssim},
                                  {"accuracy", s.accuracy}, {"identity_psnr", s.identity_psnr},
                                  {"identity_ssim", s.identity_ssim}, {"identity_accuracy", s.identity_accuracy}};
      std::ofstream out(opt->json);
      out << j.dump(2) << "\n";
      if (!out) throw TrainError(opt->json + ": cannot write");
    }
  });
}

}  // namespace cg
