// Reads tensors saved by Python's torch.save (the zip format of PyTorch >= 1.6): a state_dict
// (OrderedDict or dict) of tensors, as the official CycleGAN code writes its .pth files.
// LibTorch's own pickle_load turns an OrderedDict into None, so the pickle is read here with a
// small unpickler that knows exactly the opcodes and globals torch.save emits, and refuses
// everything else with a message.
#pragma once

#include "common/error.h"

#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace cg {

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Keys in file order; tensors on the CPU, contiguous, owning their memory.
NamedTensors read_state_dict(const std::string& path);

// The same from bytes already in memory (what the fuzzer feeds); `name` is used in messages.
NamedTensors read_state_dict_bytes(const void* data, size_t size, const std::string& name);

}  // namespace cg
