// Scores of a pair of generators on a synthetic dataset made by `cg-trainer synth`.
#pragma once

#include <string>

namespace cg {

struct EvalScores {
  int images_A = 0, images_B = 0;
  double psnr = 0, ssim = 0, accuracy = 0;                             // of the generators
  double identity_psnr = 0, identity_ssim = 0, identity_accuracy = 0;  // of returning the input unchanged
  double teacher_psnr = 0, teacher_ssim = 0;  // of G_A against the teacher's outputs, when one is given
};

// Scores G_A on testA against testA_truth and G_B on testB against testB_truth (a dataset made
// by `cg-trainer synth`); an empty model_B skips testB. For a `synth --aligned` dataset (test/ of
// label | photo images, no testA) G_A maps left halves to right ones and G_B right to left. With a `teacher` (the G.pt
// a student G_A was distilled from), also how close G_A's outputs are to the teacher's. Throws Error.
EvalScores evaluate(const std::string& dataroot, const std::string& model_A, const std::string& model_B,
                    const std::string& device, const std::string& teacher = "");

}  // namespace cg
