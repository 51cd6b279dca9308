#include "model/metadata.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace cg {

std::string ModelMetadata::to_json() const {
  nlohmann::ordered_json j = {
      {"format", "cyclegan-gst generator"},
      {"format_version", format_version},
      {"architecture", architecture},
      {"ngf", ngf},
      {"n_blocks", n_blocks},
      {"input_nc", input_nc},
      {"output_nc", output_nc},
      {"block", mobile ? "mobile" : "resnet"},
      {"family", family == Family::kUnet ? "unet" : "resnet"},
      {"norm", norm_name(norm)},
      {"dropout", use_dropout},
      {"antialias_down", antialias_down},
      {"antialias_up", antialias_up},
      {"upsample_conv", upsample_conv},
      {"unet_downs", unet_downs},
      {"batch_norm_statistics", batch_stats ? "frame" : "running"},
      {"macs_per_256x256_frame", count_macs(generator_layers(generator_options()), input_nc, 256, 256)},
      {"direction", direction},
      {"crop_size", crop_size},
      {"epochs_trained", epochs_trained},
      {"source", source},
      {"teacher", teacher},
      {"size_multiple", size_multiple(generator_options())},
      {"min_size", min_size(generator_options())},
      {"value_range", {-1.0, 1.0}},
      {"layout", "NCHW RGB float"}};
  return j.dump(2);
}

ModelMetadata ModelMetadata::from_json(const std::string& text, const std::string& file) {
  ModelMetadata m;
  try {
    auto j = nlohmann::json::parse(text);
    m.format_version = j.value("format_version", 0);
    if (m.format_version < 1 || m.format_version > kModelFormatVersion)
      throw Error(ErrorKind::kModel, file + ": model format version " + std::to_string(m.format_version) +
                                         " is not supported (this build reads 1.." +
                                         std::to_string(kModelFormatVersion) + ")");
    m.architecture = j.value("architecture", m.architecture);
    m.ngf = j.value("ngf", m.ngf);
    m.n_blocks = j.value("n_blocks", m.n_blocks);
    m.input_nc = j.value("input_nc", m.input_nc);
    m.output_nc = j.value("output_nc", m.output_nc);
    m.mobile = j.value("block", std::string("resnet")) == "mobile";
    m.family = j.value("family", std::string("resnet")) == "unet" ? Family::kUnet : Family::kResnet;
    m.norm = parse_norm(j.value("norm", std::string("instance")));
    m.use_dropout = j.value("dropout", false);
    m.antialias_down = j.value("antialias_down", false);
    m.antialias_up = j.value("antialias_up", false);
    m.upsample_conv = j.value("upsample_conv", false);
    m.unet_downs = j.value("unet_downs", m.unet_downs);
    if (m.family == Family::kUnet && (m.unet_downs < 5 || m.unet_downs > 12))
      throw Error(ErrorKind::kModel,
                  file + ": bad " + kMetadataFile + " (unet_downs " + std::to_string(m.unet_downs) + " is not 5..12)");
    m.batch_stats = j.value("batch_norm_statistics", std::string("running")) == "frame";
    m.teacher = j.value("teacher", m.teacher);
    m.direction = j.value("direction", m.direction);
    m.crop_size = j.value("crop_size", m.crop_size);
    m.epochs_trained = j.value("epochs_trained", m.epochs_trained);
    m.source = j.value("source", m.source);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorKind::kModel, file + ": bad " + kMetadataFile + " (" + e.what() + ")");
  } catch (const std::invalid_argument& e) {
    throw Error(ErrorKind::kModel, file + ": bad " + kMetadataFile + " (" + e.what() + ")");
  }
  return m;
}

ModelMetadata ModelMetadata::for_generator(const GeneratorOptions& o) {
  ModelMetadata m;
  m.architecture = architecture_name(o);
  m.ngf = o.ngf;
  m.n_blocks = o.n_blocks;
  m.input_nc = o.input_nc;
  m.output_nc = o.output_nc;
  m.mobile = o.mobile;
  m.family = o.family;
  m.norm = o.norm;
  m.use_dropout = o.use_dropout;
  m.antialias_down = o.antialias_down;
  m.antialias_up = o.antialias_up;
  m.upsample_conv = o.upsample_conv;
  m.unet_downs = o.unet_downs;
  return m;
}

GeneratorOptions ModelMetadata::generator_options() const {
  GeneratorOptions g;
  g.ngf = ngf;
  g.n_blocks = n_blocks;
  g.input_nc = input_nc;
  g.output_nc = output_nc;
  g.mobile = mobile;
  g.family = family;
  g.norm = norm;
  g.use_dropout = use_dropout;
  g.antialias_down = antialias_down;
  g.antialias_up = antialias_up;
  g.upsample_conv = upsample_conv;
  g.unet_downs = unet_downs;
  return g;
}

}  // namespace cg
