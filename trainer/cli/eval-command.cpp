#include "trainer/cli/eval-command.h"

#include "common/atomic-file.h"
#include "common/defaults.h"
#include "common/error.h"
#include "model/model-file.h"
#include "trainer/report/evaluate.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <memory>

namespace cg {

namespace fs = std::filesystem;

void add_eval_command(CLI::App& app) {
  struct Opt {
    std::string dataroot, name, checkpoints_dir = "./checkpoints", model_A, model_B, device = kDefaultDevice, json,
                                teacher;
  };
  auto opt = std::make_shared<Opt>();
  auto* cmd =
      app.add_subcommand("eval",
                         "Score generators on a synthetic dataset (cg-trainer synth): PSNR and SSIM of G_A(testA) "
                         "against the true renderings, per-pixel label accuracy of G_B(testB)");
  cmd->add_option("--dataroot", opt->dataroot, "dataset made by cg-trainer synth")->required();
  cmd->add_option("--name", opt->name,
                  "experiment whose G_A.pt and G_B.pt to score (a pix2pix experiment's G.pt: on test/ of a synth "
                  "--aligned dataset)");
  cmd->add_option("--checkpoints-dir,--checkpoints_dir", opt->checkpoints_dir, "where experiments are saved")
      ->capture_default_str();
  cmd->add_option("--model-a,--model_A", opt->model_A,
                  "labels -> photo generator (default CHECKPOINTS_DIR/NAME/G_A.pt)");
  cmd->add_option("--model-b,--model_B", opt->model_B,
                  "photo -> labels generator (default CHECKPOINTS_DIR/NAME/G_B.pt)");
  cmd->add_option("--device", opt->device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  cmd->add_option("--json", opt->json, "also write the scores to this JSON file");
  cmd->add_option("--teacher", opt->teacher,
                  "for a distilled student given as --model-a: also score it against this teacher G.pt's outputs "
                  "(testB is skipped unless --model-b is given)");
  cmd->callback([opt] {
    const fs::path exp = fs::path(opt->checkpoints_dir) / opt->name;
    std::string a = opt->model_A, b = opt->model_B;
    const bool student = !opt->teacher.empty() && !a.empty();
    if (a.empty() || (b.empty() && !student)) {
      if (opt->name.empty())
        throw Error(ErrorKind::kUsage, "eval: give --name (an experiment) or both --model-a and --model-b");
      // A pix2pix experiment has one generator, G.pt, scored in the direction it translates.
      std::error_code ec;
      if (a.empty() && b.empty() && !fs::exists(exp / "G_A.pt", ec) && fs::exists(exp / "G.pt", ec)) {
        const std::string g = (exp / "G.pt").string();
        (load_generator(g).metadata.direction == "BtoA" ? b : a) = g;
      } else {
        if (a.empty()) a = (exp / "G_A.pt").string();
        if (b.empty()) b = (exp / "G_B.pt").string();
      }
    }
    if (a.empty())
      throw Error(ErrorKind::kUsage,
                  "eval: " + b + " translates photos to labels; give the labels -> photo generator too (--model-a)");
    const EvalScores s = evaluate(opt->dataroot, a, b, opt->device, opt->teacher);
    std::cout << std::fixed << std::setprecision(4) << "labels -> photo (G_A, " << s.images_A << " images): PSNR "
              << std::setprecision(2) << s.psnr << " dB, SSIM " << std::setprecision(4) << s.ssim
              << "   (identity: PSNR " << std::setprecision(2) << s.identity_psnr << " dB, SSIM "
              << std::setprecision(4) << s.identity_ssim << ")\n";
    if (!opt->teacher.empty())
      std::cout << "labels -> photo against the teacher's outputs: PSNR " << std::setprecision(2) << s.teacher_psnr
                << " dB, SSIM " << std::setprecision(4) << s.teacher_ssim << "\n";
    if (s.images_B > 0)
      std::cout << "photo -> labels (G_B, " << s.images_B << " images): per-pixel accuracy " << s.accuracy
                << "   (identity: " << s.identity_accuracy << ")\n";
    if (!opt->json.empty()) {
      nlohmann::ordered_json j = {{"images_A", s.images_A},
                                  {"images_B", s.images_B},
                                  {"psnr", s.psnr},
                                  {"ssim", s.ssim},
                                  {"accuracy", s.accuracy},
                                  {"identity_psnr", s.identity_psnr},
                                  {"identity_ssim", s.identity_ssim},
                                  {"identity_accuracy", s.identity_accuracy},
                                  {"teacher_psnr", s.teacher_psnr},
                                  {"teacher_ssim", s.teacher_ssim}};
      write_file_atomically(opt->json, j.dump(2) + "\n");
    }
  });
}

}  // namespace cg
