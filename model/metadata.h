// What a G.pt records about its generator, as metadata.json inside the archive: architecture,
// direction, training crop, provenance and the format version.
#pragma once

#include "model/generator-layout.h"

#include <cstdint>
#include <string>

namespace cg {

constexpr const char* kMetadataFile = "metadata.json";
constexpr int kModelFormatVersion = 1;

struct ModelMetadata {
  std::string architecture = "resnet_9blocks";
  int64_t ngf = 64;
  int64_t n_blocks = 9;
  int64_t input_nc = 3;
  int64_t output_nc = 3;
  bool mobile = false;  // depthwise-separable residual blocks (GeneratorOptions::mobile)
  // The rest of GeneratorOptions (family, norm, up- and downsampling variants, U-Net depth).
  Family family = Family::kResnet;
  Norm norm = Norm::kInstance;
  bool use_dropout = false;
  bool antialias_down = false, antialias_up = false, upsample_conv = false;
  int64_t unet_downs = 8;
  // Batch norms use each frame's own statistics, as the official test.py without --eval, rather
  // than their running statistics.
  bool batch_stats = false;
  std::string direction = "AtoB";  // the translation this generator performs
  int64_t crop_size = 256;         // the training crop: the natural processing size
  int64_t epochs_trained = 0;
  std::string source = "cg-trainer";  // where the weights came from
  std::string teacher;                // a distilled student's teacher (its file and architecture)
  int format_version = kModelFormatVersion;

  std::string to_json() const;
  // `file` names the model in error messages.
  static ModelMetadata from_json(const std::string& text, const std::string& file);
  static ModelMetadata for_generator(const GeneratorOptions& o);
  // The generator these fields describe (the default one when a file recorded none).
  GeneratorOptions generator_options() const;
};

}  // namespace cg
