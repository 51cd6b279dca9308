// libFuzzer target: the torch.save reader and the official-weights import on arbitrary bytes.
// Every input must end in a result or a cg::Error; anything else is a bug.
#include "model/official-import.h"
#include "model/state-dict-reader.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto state = cg::read_state_dict_bytes(data, size, "fuzz.pth");
    const auto options = cg::infer_generator_options(state, "fuzz.pth");
    if (options.ngf * options.n_blocks <= 64 && options.input_nc <= 4 && options.output_nc <= 4) {
      cg::ResnetGenerator g(options);
      cg::load_official_state(g, state, "fuzz.pth");
    }
  } catch (const cg::Error&) {
  }
  return 0;
}
