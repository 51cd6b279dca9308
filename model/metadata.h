// What a G.pt records about its generator, as metadata.json inside the archive: the generator's
// options, direction, training crop, provenance and the format version.
#pragma once

#include "common/defaults.h"
#include "model/generator-layout.h"

#include <cstdint>
#include <string>

namespace cg {

constexpr const char* kMetadataFile = "metadata.json";
// 2: the generator's fields under their GeneratorOptions names ("mobile", "use_dropout",
// "batch_stats"); 1 named three of them otherwise, and is still read.
constexpr int kModelFormatVersion = 2;

struct ModelMetadata {
  // The generator, field for field (metadata.cpp lists the fields once, for both directions).
  GeneratorOptions generator;
  // Batch norms use each frame's own statistics, as the official test.py without --eval, rather
  // than their running statistics.
  bool batch_stats = false;
  std::string direction = "AtoB";        // the translation this generator performs
  int64_t crop_size = kDefaultCropSize;  // the training crop: the natural processing size
  int64_t epochs_trained = 0;
  std::string source = "cg-trainer";  // where the weights came from
  std::string teacher;                // a distilled student's teacher (its file and architecture)
  int format_version = kModelFormatVersion;

  // Derived from `generator`, and written to the file for other readers; a file whose recorded
  // size rule contradicts its generator is refused when read.
  std::string architecture() const { return architecture_name(generator); }
  SizeRule size_rule() const { return cg::size_rule(generator); }

  std::string to_json() const;
  // `file` names the model in error messages.
  static ModelMetadata from_json(const std::string& text, const std::string& file);
  static ModelMetadata for_generator(const GeneratorOptions& o);
};

}  // namespace cg
