// libFuzzer target: the torch.save reader and the generator import (recognition by key names and
// by tensor order, loading) on arbitrary bytes.
// Every input must end in a result or a cg::Error; anything else is a bug.
#include "model/official-import.h"
#include "model/state-dict-reader.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto state = cg::read_state_dict_bytes(data, size, "fuzz.pth");
    const auto r = cg::recognise_generator(state, "fuzz.pth");
    const auto& o = r.options;
    if (o.ngf * o.n_blocks <= 64 && o.ngf <= 8 && o.input_nc <= 4 && o.output_nc <= 4) {
      cg::Generator g(o);
      cg::load_recognised(g, r, "fuzz.pth");
    }
  } catch (const cg::Error&) {
  }
  return 0;
}
