// Defaults that the element, the engine and cg-trainer's commands share: each is written here
// once, and every option, property, ParamSpec and help text that has it reads it from here.
#pragma once

#include <cstdint>

namespace cg {

// The device every command and the element start from: CUDA when LibTorch sees a GPU, else the
// CPU (see parse_device in engine/device.h).
constexpr const char* kDefaultDevice = "auto";

// The official training crop (crop_size 256): the processing size of `process-size=model` for a
// file that records none, and the crop `train` and `export` assume unless told otherwise.
constexpr int64_t kDefaultCropSize = 256;

}  // namespace cg
