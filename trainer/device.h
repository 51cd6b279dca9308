#pragma once

#include <c10/core/Device.h>

#include <string>

namespace cg {

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when LibTorch sees a GPU, else the CPU). Throws
// TrainError for a malformed name or a GPU that is not there.
c10::Device resolve_device(const std::string& name);

}  // namespace cg
