// The safetensors format, the one model hubs share weights in: an 8-byte little-endian header
// length N, N bytes of JSON {"NAME": {"dtype": "F32", "shape": [...], "data_offsets": [BEGIN,
// END]}, ..., "__metadata__": {"key": "text", ...}} (padded with spaces), then the tensors' raw
// little-endian bytes, offsets counted from the end of the header. Unlike a pickle no code runs on
// reading, but every length in a downloaded or damaged file is still checked before it is used.
//
// Files of ours carry the ModelMetadata JSON as the text of __metadata__'s "cyclegan_gst" key and
// the generator's tensors under the state_dict names of the official code (state_tensors()), so
// Python's `safetensors.torch.load_file` gives a state_dict the official module loads.
#pragma once

#include "model/metadata.h"
#include "model/networks.h"
#include "model/state-dict-reader.h"

#include <cstdint>
#include <map>
#include <string>

namespace cg {

// The header's largest accepted size, as the reference (Rust) implementation has it: a header
// that claims more is damage, and would otherwise make the reader allocate what it claims.
constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;
// The __metadata__ key whose text is our ModelMetadata JSON.
constexpr const char* kSafetensorsMetadataKey = "cyclegan_gst";

struct SafetensorsFile {
  // Ordered by name with numbers compared as numbers, and weight, bias, running_mean, running_var
  // first among a module's own tensors: the order of a state_dict of nn.Sequential modules.
  // The file itself keeps no module order (Python's writer sorts the names), and recognition by
  // tensor order needs one.
  NamedTensors tensors;
  std::map<std::string, std::string> metadata;  // __metadata__
};

// Reads the tensors as stored: F64, F32, F16, BF16, I64, I32, I16, I8 and U8 are accepted (every
// other dtype is refused by name); on the CPU, contiguous, owning their memory. Throws
// Error(kModel) naming `name` and what is wrong: truncation, a header over kSafetensorsMaxHeader
// or not a JSON object of the shape above, offsets outside the data area, overlapping or leaving
// holes, a shape whose byte count is not its offsets', metadata values that are not strings.
SafetensorsFile read_safetensors_bytes(const void* data, size_t size, const std::string& name);
SafetensorsFile read_safetensors(const std::string& path);

// The file's bytes: the header (tensors in the given order, then their data in that order) padded
// to a multiple of 8 so the data starts aligned. Tensors of the dtypes above; any device.
std::string safetensors_bytes(const NamedTensors& tensors, const std::map<std::string, std::string>& metadata);

// A file named *.safetensors, or one that starts as one does (a header length that fits the file,
// then '{'): how `export` and `info` tell it from a torch.save zip or a TorchScript archive.
bool is_safetensors_file(const std::string& path);

// Writes `generator`'s tensors and `metadata` (atomically).
void save_generator_safetensors(const GeneratorImpl& generator, const ModelMetadata& metadata, const std::string& path);

struct SafetensorsGenerator {
  Generator generator{nullptr};  // in eval mode
  ModelMetadata metadata;
};

bool has_generator_metadata(const SafetensorsFile& file);

// The generator a file of ours describes, holding its weights. Throws Error(kModel) naming `name`
// when the metadata is missing or bad, or the tensors are not exactly the ones its generator has
// (the first missing, surplus or misshapen one is named). The metadata's generator is checked
// against the tensors before anything is allocated, so a damaged header cannot make it build a
// generator larger than the file.
SafetensorsGenerator generator_from_safetensors(const SafetensorsFile& file, const std::string& name);

}  // namespace cg
