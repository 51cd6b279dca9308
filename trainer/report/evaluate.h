// Scores of a pair of generators on a synthetic dataset made by `cg-trainer synth`.
#pragma once

#include <string>

namespace cg {

struct EvalScores {
  int images_A = 0, images_B = 0;
  double psnr = 0, ssim = 0, accuracy = 0;                             // of the generators
  double identity_psnr = 0, identity_ssim = 0, identity_accuracy = 0;  // of returning the input unchanged
};

// Scores G_A on testA against testA_truth and G_B on testB against testB_truth (a dataset made
// by `cg-trainer synth`). Throws Error.
EvalScores evaluate(const std::string& dataroot, const std::string& model_A, const std::string& model_B,
                    const std::string& device);

}  // namespace cg
