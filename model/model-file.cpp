#include "model-file.h"

#include "atomic-file.h"
#include "fast-ops.h"

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
  LoadedModel r;
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  try {
    r.module = torch::jit::load(path, device, extra);
  } catch (const c10::Error& e) {
    std::string why = e.what_without_backtrace();
    if (why.size() > 300) why = why.substr(0, 300) + "...";
    throw ModelFileError(path + ": not a loadable TorchScript model (" + why + ")");
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
