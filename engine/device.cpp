#include "engine/device.h"

#include "common/error.h"

#include <torch/cuda.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace cg {

namespace {

[[noreturn]] void refuse(const std::string& name, const std::string& why) {
  throw Error(ErrorKind::kSettings, "device '" + name + "': " + why);
}

// The N of "cuda:N"; -1 for plain "cuda".
int cuda_index(const std::string& name) {
  if (name == "cuda") return -1;
  const std::string digits = name.substr(5);
  if (digits.empty() || digits.size() > 4 || digits.find_first_not_of("0123456789") != std::string::npos)
    refuse(name, "expected cuda:N with N a GPU number");
  return std::stoi(digits);
}

}  // namespace

c10::Device parse_device(const std::string& name, std::string* fallback_note) {
  if (name == "cpu") return c10::Device(c10::kCPU);
  if (name == "auto") {
    if (torch::cuda::is_available()) return c10::Device(c10::kCUDA, 0);
    if (fallback_note) *fallback_note = "device=auto: no usable CUDA device, running on the CPU";
    return c10::Device(c10::kCPU);
  }
  if (name != "cuda" && name.rfind("cuda:", 0) != 0)
    throw Error(ErrorKind::kSettings, "invalid device '" + name + "' (use auto, cpu, cuda or cuda:N)");
  const int index = cuda_index(name);
  const auto count = torch::cuda::is_available() ? static_cast<int>(torch::cuda::device_count()) : 0;
  if (count == 0) refuse(name, "no usable CUDA device (LibTorch sees none); use cpu");
  if (index >= count) refuse(name, "there are only " + std::to_string(count) + " CUDA device(s)");
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
}

// CPUID rather than __builtin_cpu_supports, whose feature names differ between GCC and clang.
bool cpu_has_native_bf16() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  const bool amx_bf16 = d & (1u << 22);
  __cpuid_count(7, 1, a, b, c, d);
  const bool avx512_bf16 = a & (1u << 5);
  return amx_bf16 || avx512_bf16;
#else
  return false;  // not measured on other processors: warn rather than promise speed
#endif
}

std::string bf16_cpu_warning() {
  if (cpu_has_native_bf16()) return {};
  return "bf16 on this CPU: it has no native bfloat16 (AVX-512 BF16 or AMX), so bf16 is emulated and runs several "
         "times slower than fp32 (5-10x measured on an AVX2 CPU); use fp32";
}

}  // namespace cg
