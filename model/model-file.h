// The G.pt model file: a TorchScript archive that torch.jit.load (Python) and torch::jit::load
// (C++) both run. Contract: forward(x) takes float N x 3 x H x W in [-1, 1], H and W multiples of
// the metadata's size_multiple and at least its min_size (4 and 8 for ResNets, whose residual
// blocks' reflection pads need 2 x 2 after the two stride-2 convs; 2^depth for U-Nets), and
// returns the same shape in [-1, 1]. The weights are stored in the faster
// inference form (transposed convs as sub-pixel convs); metadata.json travels inside the archive.
#pragma once

#include "model/metadata.h"
#include "model/networks.h"

#include <torch/csrc/jit/api/module.h>

#include <string>

namespace cg {

// Writes atomically: a temporary file beside `path`, then a rename.
void save_generator(Generator& generator, const ModelMetadata& metadata, const std::string& path);

// Copies a G.pt with new metadata (same weights and code): for correcting what a file records,
// e.g. the training crop of a model trained without cropping.
void save_with_metadata(const std::string& in_path, const ModelMetadata& metadata, const std::string& out_path);

struct LoadedModel {
  torch::jit::Module module;
  ModelMetadata metadata;
  bool has_metadata = false;  // false for TorchScript generators written elsewhere
  // What frame sides the generator takes: its metadata's, or found by probing a generator written
  // elsewhere.
  SizeRule size_rule;
  // The generator's layers: from the metadata; for a file without it, what the probe suggests at
  // the official width (ngf 64): a U-Net of the depth its size rule shows, else the default
  // ResNet, the largest usual one. What sizes passes and cost estimates.
  GeneratorOptions generator_options() const;
};

// Loads, moves to `device` and checks that forward maps a 1x3xSxS frame to the same shape (S the
// model's min_size; probed for files without our metadata); any failure is a cg::Error naming
// the file and the reason.
LoadedModel load_generator(const std::string& path, const c10::Device& device = c10::Device("cpu"));

// The trainable generator a G.pt of ours holds (its metadata describes it; the stored sub-pixel
// weights are turned back into transposed ones). Throws Error naming the file when it has no
// metadata or its weights do not fit the generator the metadata describes.
Generator trainable_generator(const LoadedModel& model, const std::string& path);

}  // namespace cg
