#include "model/model-file.h"

#include "common/atomic-file.h"
#include "common/error.h"
#include "model/fast-ops.h"
#include "model/generator-script.h"
#include "model/pickle-guard.h"
#include "model/torch-error.h"

#include <torch/csrc/jit/serialization/import.h>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

namespace cg {

namespace fs = std::filesystem;

namespace {

// Runs forward on one zero frame of side `side`: the error text when it fails, "" when it maps the
// frame to the same shape.
std::string probe(torch::jit::Module& m, const c10::Device& device, int64_t side) {
  torch::NoGradGuard no_grad;
  auto x = torch::zeros({1, 3, side, side}, torch::TensorOptions().device(device));
  const std::string size = "1x3x" + std::to_string(side) + "x" + std::to_string(side);
  c10::IValue out;
  try {
    out = m.forward({x});
  } catch (const std::exception& e) {
    return "forward fails on a " + size + " input: " + std::string(e.what()).substr(0, 400);
  }
  if (!out.isTensor()) return "forward returns " + out.tagKind() + ", not a tensor";
  const auto sizes = out.toTensor().sizes();
  if (sizes == x.sizes()) return "";
  std::ostringstream s;
  s << "forward maps " << size << " to " << sizes << "; a generator must keep the shape (3 channels)";
  return s.str();
}

// A generator of ours runs at its min_size(). A TorchScript generator from elsewhere is probed
// at growing powers of two, so that a U-Net (whose frames must be multiples of 2^depth) is found
// rather than run at a size that breaks it.
void check_probe(LoadedModel& r, const c10::Device& device, const std::string& path) {
  if (r.has_metadata) {
    r.size_rule = r.metadata.size_rule();
    if (const std::string e = probe(r.module, device, r.size_rule.min); !e.empty())
      throw Error(ErrorKind::kModel, path + ": " + e);
    return;
  }
  std::string first;
  for (int64_t side = kMinSize; side <= 512; side *= 2) {
    const std::string e = probe(r.module, device, side);
    if (e.empty()) {
      r.size_rule = {side == kMinSize ? kSizeMultiple : side, side};
      return;
    }
    if (first.empty()) first = e;
    if (e.find("forward fails") == std::string::npos) break;  // runs but changes the shape: no size helps
  }
  throw Error(ErrorKind::kModel, path + ": " + first);
}

void save_module(torch::jit::Module& module, const ModelMetadata& metadata, const std::string& path) {
  torch::jit::ExtraFilesMap extra{{kMetadataFile, metadata.to_json()}};
  std::ostringstream bytes;
  module.save(bytes, extra);
  write_file_atomically(path, bytes.str());
}

}  // namespace

void save_generator(Generator& generator, const ModelMetadata& metadata, const std::string& path) {
  auto module = generator_script(*generator, metadata.batch_stats);
  save_module(module, metadata, path);
}

void save_with_metadata(const std::string& in_path, const ModelMetadata& metadata, const std::string& out_path) {
  auto loaded = load_generator(in_path);
  save_module(loaded.module, metadata, out_path);
}

LoadedModel load_generator(const std::string& path, const c10::Device& device) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::kModel, path + ": no such file");
  if (fs::is_directory(path, ec)) throw Error(ErrorKind::kModel, path + ": is a directory, not a model file");
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    std::fclose(f);
  } else {
    throw Error(ErrorKind::kModel, path + ": cannot open (" + std::strerror(errno) + ")");
  }
  check_pickles(path);
  LoadedModel r;
  torch::jit::ExtraFilesMap extra{{kMetadataFile, ""}};
  try {
    // Debug files only map TorchScript source to Python lines for error messages; LibTorch's
    // reader for them crashes on damaged input (found by fuzzing), so they are never read.
    r.module = torch::jit::load(path, device, extra, /*load_debug_files=*/false);
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kModel, path + ": not a loadable TorchScript model (" + short_reason(e) + ")");
  } catch (const std::exception& e) {
    throw Error(ErrorKind::kModel, path + ": not a loadable TorchScript model (" + std::string(e.what()) + ")");
  }
  if (!extra[kMetadataFile].empty()) {
    r.metadata = ModelMetadata::from_json(extra[kMetadataFile], path);
    r.has_metadata = true;
  }
  if (!r.module.find_method("forward"))
    throw Error(ErrorKind::kModel, path + ": the TorchScript module has no forward method");
  r.module.eval();
  check_probe(r, device, path);
  return r;
}

GeneratorOptions LoadedModel::generator_options() const {
  if (has_metadata) return metadata.generator;
  GeneratorOptions g;
  if (size_rule.multiple > kSizeMultiple) {
    g.family = Family::kUnet;
    for (g.unet_downs = 0; (int64_t{1} << g.unet_downs) < size_rule.multiple;) ++g.unet_downs;
  }
  return g;
}

Generator trainable_generator(const LoadedModel& model, const std::string& path) {
  if (!model.has_metadata)
    throw Error(ErrorKind::kModel,
                path + ": a TorchScript generator without cyclegan-gst metadata: its layers are unknown");
  Generator g(model.metadata.generator);
  std::map<std::string, at::Tensor> stored;
  for (const auto& p : model.module.named_parameters(/*recurse=*/false)) stored[p.name] = p.value;
  for (const auto& b : model.module.named_buffers(/*recurse=*/false)) stored[b.name] = b.value;
  torch::NoGradGuard no_grad;
  for (auto& p : state_tensors(*g)) {
    std::string name = p.key();
    std::replace(name.begin(), name.end(), '.', '_');
    const bool is_weight = name.size() > 7 && name.compare(name.size() - 7, 7, "_weight") == 0;
    const std::string base = name.substr(0, name.rfind('_'));
    at::Tensor v;
    if (auto it = stored.find(name); it != stored.end()) {
      v = it->second;
    } else if (auto sub = stored.find(base + "_subpixel" + (is_weight ? "_weight" : "_bias")); sub != stored.end()) {
      v = is_weight ? transposed_weight(sub->second) : transposed_bias(sub->second);
    }
    if (!v.defined() || v.sizes() != p.value().sizes())
      throw Error(ErrorKind::kModel, path + ": its weights do not fit the " + model.metadata.architecture() +
                                         " generator its metadata describes (at " + p.key() + ")");
    p.value().copy_(v.to(torch::kCPU, torch::kFloat));
  }
  return g;
}

}  // namespace cg
