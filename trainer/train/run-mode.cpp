#include "trainer/train/run-mode.h"

#include "engine/device.h"

#include <ATen/Context.h>

#include <cstdlib>

namespace cg {

namespace {

std::optional<at::ScalarType> amp_dtype(const std::string& amp, bool cuda) {
  if (amp == "off") return std::nullopt;
  if (amp == "bf16") return at::kBFloat16;
  if (!cuda)
    throw Error(ErrorKind::kUsage,
                "--amp fp16 needs CUDA: fp16 arithmetic on the CPU is slow and needs loss scaling for "
                "nothing; use --amp bf16 or --amp off on the CPU");
  return at::kHalf;
}

}  // namespace

RunMode decide_run_mode(const TrainOptions& o, bool cuda) {
  RunMode m;
  m.cuda = cuda;
  // "auto" still here means no run settled it (a model built directly, as the tests do): the
  // safe reading is deterministic.
  m.deterministic = cuda && o.deterministic != "off";
  m.cudnn_benchmark = cuda && !m.deterministic;
  m.fused_adam = o.fused_adam == "on" || (o.fused_adam == "auto" && cuda);
  m.amp = amp_dtype(o.amp, cuda);
  m.loss_scaling = m.amp == at::kHalf;
  return m;
}

std::string RunMode::describe() const {
  std::string s = amp == at::kHalf ? "mixed precision fp16 with loss scaling" : amp ? "mixed precision bf16" : "fp32";
  s += fused_adam ? ", fused Adam" : ", Adam";
  if (!cuda) {
    const std::string slow = amp == at::kBFloat16 ? bf16_cpu_warning() : std::string();
    return s + "; resume is exact (CPU)" + (slow.empty() ? "" : "\nwarning: " + slow);
  }
  if (deterministic) return s + "; deterministic CUDA kernels: resume is exact";
  return s + "; cuDNN autotuning: a resume continues but is not bitwise (--seed or --deterministic on makes it exact)";
}

void settle_deterministic(TrainOptions& o, const std::map<std::string, bool>& given) {
  if (o.deterministic != "auto") return;
  const auto seed = given.find("seed");
  o.deterministic = seed != given.end() && seed->second ? "on" : "off";
}

void apply_run_mode(const RunMode& mode) {
  if (!mode.cuda) return;
  auto& ctx = at::globalContext();
  if (mode.deterministic) {
    // cuBLAS is deterministic only with a fixed workspace; a value the user set is kept.
    setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", /*overwrite=*/0);
    ctx.setDeterministicAlgorithms(true, /*warn_only=*/false);
    ctx.setDeterministicCuDNN(true);
    ctx.setBenchmarkCuDNN(false);
  } else {
    ctx.setBenchmarkCuDNN(true);
  }
}

}  // namespace cg
