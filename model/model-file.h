// The G.pt model file: a TorchScript archive that torch.jit.load (Python) and torch::jit::load
// (C++) both run. Contract: forward(x) takes float N x 3 x H x W in [-1, 1], H and W multiples of
// 4 and at least 8 (the two reflection pads inside the residual blocks need 2 x 2 after the two
// stride-2 convs), and returns the same shape in [-1, 1]. The weights are stored in the faster
// inference form (transposed convs as sub-pixel convs); metadata.json travels inside the archive.
#pragma once

#include "networks.h"
#include "state-dict-reader.h"

#include <torch/csrc/jit/api/module.h>

#include <string>

namespace cg {

constexpr const char* kMetadataFile = "metadata.json";
constexpr int kModelFormatVersion = 1;
constexpr int64_t kSizeMultiple = 4;
constexpr int64_t kMinSize = 8;

struct ModelMetadata {
  std::string architecture = "resnet_9blocks";
  int64_t ngf = 64;
  int64_t n_blocks = 9;
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  std::string direction = "AtoB";  // the translation this generator performs
  int64_t crop_size = 256;         // the training crop: the natural processing size
  int64_t epochs_trained = 0;
  std::string source = "cg-trainer";  // where the weights came from
  int format_version = kModelFormatVersion;

  std::string to_json() const;
  // `file` names the model in error messages.
  static ModelMetadata from_json(const std::string& text, const std::string& file);
  static ModelMetadata for_generator(const GeneratorOptions& o);
};

// LibTorch's message for `e` without its backtrace, cut to a length fit for an error line.
std::string short_reason(const c10::Error& e);

// Writes atomically: a temporary file beside `path`, then a rename.
void save_generator(ResnetGenerator& generator, const ModelMetadata& metadata, const std::string& path);

// Copies a G.pt with new metadata (same weights and code): for correcting what a file records,
// e.g. the training crop of a model trained without cropping.
void save_with_metadata(const std::string& in_path, const ModelMetadata& metadata, const std::string& out_path);

struct LoadedModel {
  torch::jit::Module module;
  ModelMetadata metadata;
  bool has_metadata = false;  // false for TorchScript generators written elsewhere
};

// Loads, moves to `device` and checks that forward maps 1x3x8x8 to 1x3x8x8; any failure is a
// ModelFileError naming the file and the reason.
LoadedModel load_generator(const std::string& path, const c10::Device& device = c10::Device("cpu"));

}  // namespace cg
