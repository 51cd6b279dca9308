// libFuzzer target: loading a G.pt (TorchScript archive, metadata, shape probe) from arbitrary
// bytes, through the same path the element uses. Every input must load or give a cg::Error.
#include "common/error.h"
#include "model/model-file.h"

#include <unistd.h>
#include <cstdint>
#include <cstdio>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/cg-fuzz-model-" + std::to_string(::getpid()) + ".pt";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    cg::load_generator(path);
  } catch (const cg::Error&) {
  }
  return 0;
}
