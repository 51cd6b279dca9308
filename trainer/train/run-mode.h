// How a training run uses its device: deterministic kernels or cuDNN autotuning, the Adam
// kernel, mixed precision. Decided from the options and the device alone, so the process
// settings, the model and the banner cannot disagree, and the decision is testable without a GPU.
#pragma once

#include "trainer/train/options.h"

#include <c10/core/ScalarType.h>

#include <map>
#include <optional>
#include <string>

namespace cg {

struct RunMode {
  bool cuda = false;
  // CUDA: deterministic algorithms and cuDNN, no autotuning. Without them reflection_pad2d's
  // backward (atomicAdd) and cuDNN's algorithm choice make a resumed run drift from an unbroken one.
  bool deterministic = false;
  bool cudnn_benchmark = false;  // CUDA without determinism: the crops are fixed, autotuning pays
  bool fused_adam = false;
  std::optional<at::ScalarType> amp;  // autocast dtype; none = fp32 throughout
  bool loss_scaling = false;          // fp16 only: its gradients underflow without it

  // One line for the banner: the precision, the optimizer and whether a resume is bitwise.
  std::string describe() const;
};

// Throws Error (kUsage) for what the device cannot do (fp16 on the CPU).
RunMode decide_run_mode(const TrainOptions& o, bool cuda);

// --deterministic auto becomes on when --seed was given on the command line, else off: an
// explicit seed asks for a reproducible run. Settled once, at the start of a run, and recorded
// in the checkpoint, so a resume (which takes the seed from the checkpoint) keeps the choice.
void settle_deterministic(TrainOptions& o, const std::map<std::string, bool>& given);

// The process-wide settings of `mode`: on CUDA, before any CUDA work (cuBLAS reads its workspace
// setting when its first handle is made); on the CPU nothing, its kernels are deterministic.
void apply_run_mode(const RunMode& mode);

}  // namespace cg
