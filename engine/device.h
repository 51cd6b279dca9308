// The one parser of device names, shared by the element, cg-trainer and the benchmark.
#pragma once

#include <c10/core/Device.h>

#include <string>

namespace cg {

// "auto" (CUDA device 0 when LibTorch sees a GPU, else the CPU), "cpu", "cuda" or "cuda:N".
// Throws Error(kSettings) naming the device for a malformed name or a GPU that is not there.
// `fallback_note`, when given, is set to a sentence when "auto" falls back to the CPU.
c10::Device parse_device(const std::string& name, std::string* fallback_note = nullptr);

}  // namespace cg
