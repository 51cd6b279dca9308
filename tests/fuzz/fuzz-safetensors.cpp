// libFuzzer target: the safetensors reader, then what export does with a file: a generator built
// from our metadata, or the recognition of weights from elsewhere and their loading.
// Every input must end in a result or a cg::Error; anything else is a bug.
#include "model/official-import.h"
#include "model/safetensors.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const auto file = cg::read_safetensors_bytes(data, size, "fuzz.safetensors");
    if (cg::has_generator_metadata(file)) {
      // Checked against the tensors before it is built, so its size is bounded by the input's.
      cg::generator_from_safetensors(file, "fuzz.safetensors");
    } else {
      const auto r = cg::recognise_generator(file.tensors, "fuzz.safetensors");
      const auto& o = r.options;
      if (o.ngf * o.n_blocks <= 64 && o.ngf <= 8 && o.input_nc <= 4 && o.output_nc <= 4) {
        cg::Generator g(o);
        cg::load_recognised(g, r, "fuzz.safetensors");
      }
    }
  } catch (const cg::Error&) {
  }
  return 0;
}
