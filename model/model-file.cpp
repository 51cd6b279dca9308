#include "model-file.h"

#include "atomic-file.h"
#include "fast-ops.h"

#include <caffe2/serialize/inline_container.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/nn/modules/conv.h>
#include <torch/torch.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>

namespace cg {

namespace fs = std::filesystem;

std::string ModelMetadata::to_json() const {
  nlohmann::ordered_json j = {
      {"format", "cyclegan-gst generator"}, {"format_version", format_version},
      {"architecture", architecture},       {"ngf", ngf},
      {"n_blocks", n_blocks},               {"input_nc", input_nc},
      {"output_nc", output_nc},             {"direction", direction},
      {"crop_size", crop_size},             {"epochs_trained", epochs_trained},
      {"source", source},                   {"size_multiple", kSizeMultiple},
      {"min_size", kMinSize},               {"value_range", {-1.0, 1.0}},
      {"layout", "NCHW RGB float"}};
  return j.dump(2);
}

ModelMetadata ModelMetadata::from_json(const std::string& text, const std::string& file) {
  ModelMetadata m;
  try {
    auto j = nlohmann::json::parse(text);
    m.format_version = j.value("format_version", 0);
    if (m.format_version < 1 || m.format_version > kModelFormatVersion)
      throw ModelFileError(file + ": model format version " + std::to_string(m.format_version) +
                           " is not supported (this build reads 1.." + std::to_string(kModelFormatVersion) + ")");
    m.architecture = j.value("architecture", m.architecture);
    m.ngf = j.value("ngf", m.ngf);
    m.n_blocks = j.value("n_blocks", m.n_blocks);
    m.input_nc = j.value("input_nc", m.input_nc);
    m.output_nc = j.value("output_nc", m.output_nc);
    m.direction = j.value("direction", m.direction);
    m.crop_size = j.value("crop_size", m.crop_size);
    m.epochs_trained = j.value("epochs_trained", m.epochs_trained);
    m.source = j.value("source", m.source);
  } catch (const nlohmann::json::exception& e) {
    throw ModelFileError(file + ": bad " + kMetadataFile + " (" + e.what() + ")");
  }
  return m;
}

ModelMetadata ModelMetadata::for_generator(const GeneratorOptions& o) {
  ModelMetadata m;
  m.architecture = "resnet_" + std::to_string(o.n_blocks) + "blocks";
  m.ngf = o.ngf;
  m.n_blocks = o.n_blocks;
  m.input_nc = o.input_nc;
  m.output_nc = o.output_nc;
  return m;
}

std::string short_reason(const c10::Error& e) {
  std::string why = e.what_without_backtrace();
  if (why.size() > 300) why = why.substr(0, 300) + "...";
  return why;
}

namespace {

// TorchScript source of the inference forward, unrolled over the blocks. Inside define() only
// aten ops are visible (torch.reflection_pad2d, not torch.nn.functional.pad).
std::string forward_source(int64_t n_blocks) {
  std::ostringstream s;
  auto conv = [&](const std::string& p, const char* x, const char* stride_pad) {
    s << "torch.conv2d(" << x << ", self." << p << "_weight, self." << p << "_bias" << stride_pad << ")";
  };
  s << "def _norm(self, x: Tensor) -> Tensor:\n"
       "    return torch.group_norm(x, x.size(1), None, None, 1e-05, True)\n\n"
       "def forward(self, x: Tensor) -> Tensor:\n"
       "    x = torch.reflection_pad2d(x, [3, 3, 3, 3])\n"
       "    x = torch.relu(self._norm(";
  conv("model_1", "x", "");
  s << "))\n";
  for (const char* p : {"model_4", "model_7"}) {
    s << "    x = torch.relu(self._norm(";
    conv(p, "x", ", [2, 2], [1, 1]");
    s << "))\n";
  }
  for (int64_t i = 0; i < n_blocks; ++i) {
    const std::string b = "model_" + std::to_string(10 + i) + "_conv_block_";
    s << "    y = torch.relu(self._norm(";
    conv(b + "1", "torch.reflection_pad2d(x, [1, 1, 1, 1])", "");
    s << "))\n    x = x + self._norm(";
    conv(b + "5", "torch.reflection_pad2d(y, [1, 1, 1, 1])", "");
    s << ")\n";
  }
  for (int64_t up : {10 + n_blocks, 13 + n_blocks}) {
    s << "    x = torch.relu(self._norm(torch.pixel_shuffle(";
    conv("model_" + std::to_string(up) + "_subpixel", "torch.constant_pad_nd(x, [0, 1, 0, 1], 0.0)", "");
    s << ", 2)))\n";
  }
  s << "    return torch.tanh(";
  conv("model_" + std::to_string(17 + n_blocks), "torch.reflection_pad2d(x, [3, 3, 3, 3])", "");
  s << ")\n";
  return s.str();
}

std::string sanitized(std::string name) {
  for (auto& c : name)
    if (c == '.') c = '_';
  return name;
}

// LibTorch's unpickler sizes strings from their length fields before reading them: a damaged
// 20 KB file claiming a 4 GB string makes torch::jit::load allocate and fill 4 GB (found by
// fuzzing). A memo index is used the same way (LONG_BINPUT 0xffffffff allocates a 64 GB memo).
// So every pickle in the archive is walked first, opcode by opcode, and refused when a length
// points past its end or a memo index exceeds the number of bytes (each entry costs at least one).
bool pickle_lengths_fit(const uint8_t* p, size_t n) {
  size_t i = 0;
  auto skip = [&](size_t k) { return k <= n - i ? (i += k, true) : false; };
  auto le = [&](size_t k, uint64_t& v) {
    if (k > n - i) return false;
    v = 0;
    for (size_t j = 0; j < k; ++j) v |= uint64_t{p[i + j]} << (8 * j);
    i += k;
    return true;
  };
  auto line = [&] {
    while (i < n)
      if (p[i++] == '\n') return true;
    return false;
  };
  uint64_t len = 0;
  while (i < n) {
    const uint8_t op = p[i++];
    switch (op) {
      case '.': return true;  // STOP
      case '(': case '0': case '1': case '2': case 'N': case ')': case ']': case '}': case 'a': case 'b':
      case 'e': case 'l': case 'd': case 'o': case 'R': case 's': case 't': case 'u': case 0x85: case 0x86:
      case 0x87: case 0x88: case 0x89: case 0x81: case 0x92: case 0x93: case 0x94: case 0x8f: case 0x90:
      case 0x91: case 0x97: case 0x98: case 'Q':
        break;
      case 0x80: case 'K': case 'q': case 'h': if (!skip(1)) return false; break;
      case 'M': if (!skip(2)) return false; break;
      case 'J': case 'j': if (!skip(4)) return false; break;
      case 'r': if (!le(4, len) || len > n) return false; break;
      case 'G': case 0x95: if (!skip(8)) return false; break;
      case 'U': case 'C': case 0x8c: case 0x8a: if (!le(1, len) || !skip(len)) return false; break;
      case 'T': case 'X': case 'B': case 0x8b: if (!le(4, len) || !skip(len)) return false; break;
      case 0x8d: case 0x8e: case 0x96: if (!le(8, len) || len > n || !skip(len)) return false; break;
      case 'c': case 'i': if (!line() || !line()) return false; break;
      case 'I': case 'L': case 'F': case 'S': case 'V': case 'P': case 'p': case 'g':
        if (!line()) return false;
        break;
      default: return false;
    }
  }
  return false;  // no STOP
}

void check_pickles(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    for (const auto& name : zip.getAllRecords()) {
      if (name.size() < 3 || name.compare(name.size() - 3, 3, "pkl") != 0) continue;  // data.pkl, *.debug_pkl
      auto [data, size] = zip.getRecord(name);
      if (!pickle_lengths_fit(static_cast<const uint8_t*>(data.get()), size))
        throw ModelFileError(path + ": damaged archive (" + name + " is not a well-formed pickle)");
    }
  } catch (const c10::Error& e) {
    throw ModelFileError(path + ": not a loadable TorchScript model (" + short_reason(e) + ")");
  }
}

void check_probe(torch::jit::Module& m, const c10::Device& device, const std::string& path) {
  torch::NoGradGuard no_grad;
  auto x = torch::zeros({1, 3, kMinSize, kMinSize}, torch::TensorOptions().device(device));
  c10::IValue out;
  try {
    out = m.forward({x});
  } catch (const std::exception& e) {
    throw ModelFileError(path + ": forward fails on a 1x3x8x8 input: " + std::string(e.what()).substr(0, 400));
  }
  if (!out.isTensor()) throw ModelFileError(path + ": forward returns " + out.tagKind() + ", not a tensor");
  const auto sizes = out.toTensor().sizes();
  if (sizes != x.sizes()) {
    std::ostringstream s;
    s << path << ": forward maps 1x3x8x8 to " << sizes << "; a generator must keep the shape (3 channels)";
    throw ModelFileError(s.str());
  }
}

}  // namespace

void save_generator(ResnetGenerator& generator, const ModelMetadata& metadata, const std::string& path) {
  const auto& o = generator->options();
  torch::NoGradGuard no_grad;
  torch::jit::Module m("__torch__.cyclegan_gst.Generator");
  for (const auto& item : generator->named_parameters()) {
    const std::string& key = item.key();
    auto t = item.value().detach().to(torch::kCPU, torch::kFloat).contiguous().clone();
    std::string name = key;
    // Dropout shifts the second block conv to conv_block.6; the file always uses .5.
    if (o.use_dropout) {
      const auto at = name.find(".conv_block.6.");
      if (at != std::string::npos) name.replace(at, 14, ".conv_block.5.");
    }
    const bool up = name == "model." + std::to_string(generator->up_index(0)) + ".weight" ||
                    name == "model." + std::to_string(generator->up_index(1)) + ".weight";
    const bool up_bias = name == "model." + std::to_string(generator->up_index(0)) + ".bias" ||
                         name == "model." + std::to_string(generator->up_index(1)) + ".bias";
    if (up || up_bias) {
      t = up ? subpixel_weight(t).contiguous() : subpixel_bias(t).contiguous();
      name.insert(name.rfind('.'), ".subpixel");
    }
    m.register_parameter(sanitized(name), t, /*is_buffer=*/false);
  }
  m.define(forward_source(o.n_blocks));
  m.eval();

  torch::jit::ExtraFilesMap extra{{kMetadataFile, metadata.to_json()}};
  std::ostringstream bytes;
  m.save(bytes, extra);
  write_file_atomically(path, bytes.str());
}

void save_with_metadata(const std::string& in_path, const ModelMetadata& metadata, const std::string& out_path) {
  auto loaded = load_generator(in_path);
  torch::jit::ExtraFilesMap extra{{kMetadataFile, metadata.to_json()}};
  std::ostringstream bytes;
  loaded.module.save(bytes, extra);
  write_file_atomically(out_path, bytes.str());
}

LoadedModel load_generator(const std::string& path, const c10::Device& device) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelFileError(path + ": no such file");
  if (fs::is_directory(path, ec)) throw ModelFileError(path + ": is a directory, not a model file");
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    throw ModelFileError(path + ": cannot open (" + std::strerror(errno) + ")");
  }
  check_pickles(path);
  LoadedModel r;
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  try {
    // Debug files only map TorchScript source to Python lines for error messages; LibTorch's
    // reader for them crashes on damaged input (found by fuzzing), so they are never read.
    r.module = torch::jit::load(path, device, extra, /*load_debug_files=*/false);
  } catch (const c10::Error& e) {
    throw ModelFileError(path + ": not a loadable TorchScript model (" + short_reason(e) + ")");
  } catch (const std::exception& e) {
    throw ModelFileError(path + ": not a loadable TorchScript model (" + std::string(e.what()) + ")");
  }
  if (!extra[kMetadataFile].empty()) {
    r.metadata = ModelMetadata::from_json(extra[kMetadataFile], path);
    r.has_metadata = true;
  }
  if (!r.module.find_method("forward")) throw ModelFileError(path + ": the TorchScript module has no forward method");
  r.module.eval();
  check_probe(r.module, device, path);
  return r;
}

}  // namespace cg
