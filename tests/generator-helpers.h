// Small generators written as G.pt files, for the tests that need a model of some family on disk.
#pragma once

#include "model/model-file.h"

#include <torch/torch.h>

#include <string>

namespace cg::test {

// The official unet_128 with batch norm, as narrow as it goes: pix2pix's generator, whose frames
// must be multiples of 128.
inline GeneratorOptions tiny_unet128() {
  GeneratorOptions u;
  u.family = Family::kUnet;
  u.unet_downs = 7;
  u.ngf = 2;
  u.norm = Norm::kBatch;
  return u;
}

// The generator of `o` with the official initialisation, plus seeded noise of `noise` (so biases
// and norms are not their defaults), in eval mode, saved as `path` with its metadata.
inline Generator save_generator_of(const GeneratorOptions& o, const std::string& path, double noise = 0.0) {
  Generator g(o);
  init_weights(*g);
  if (noise > 0) {
    torch::NoGradGuard no_grad;
    for (auto& p : g->parameters()) p.add_(torch::randn_like(p) * noise);
  }
  g->eval();
  save_generator(g, ModelMetadata::for_generator(o), path);
  return g;
}

}  // namespace cg::test
