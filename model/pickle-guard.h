// A check of a TorchScript archive before LibTorch reads it. LibTorch's unpickler sizes strings
// and its memo from length fields before reading them: a damaged 20 KB file claiming a 4 GB
// string makes torch::jit::load allocate and fill 4 GB (found by fuzzing).
#pragma once

#include <string>

namespace cg {

// Walks every pickle in the archive at `path` opcode by opcode and throws Error(kModel) naming
// the file when a length points past its pickle's end or a memo index exceeds its size.
void check_pickles(const std::string& path);

}  // namespace cg
