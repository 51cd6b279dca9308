#include "model/metadata.h"

#include "common/error.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace cg {

// The enums by the names messages and `info` use; an unknown name is an error, not the first value.
void to_json(nlohmann::json& j, Norm n) { j = norm_name(n); }
void from_json(const nlohmann::json& j, Norm& n) { n = parse_norm(j.get<std::string>()); }
void to_json(nlohmann::json& j, Family f) { j = family_name(f); }
void from_json(const nlohmann::json& j, Family& f) { f = parse_family(j.get<std::string>()); }

// Every GeneratorOptions field, once: a new field is recorded in and read from every G.pt by
// adding it here. Missing keys keep GeneratorOptions' defaults.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GeneratorOptions, family, input_nc, output_nc, ngf, n_blocks,
                                                use_dropout, mobile, norm, antialias_down, antialias_up, upsample_conv,
                                                unet_downs, space_to_depth)

// ModelMetadata's own fields, in the same flat object as the generator's.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(ModelMetadata, batch_stats, direction, crop_size, epochs_trained,
                                                source, teacher)

// A new field of either struct stops the build here until it is in the lists above (or, for
// ModelMetadata's generator and format_version, written by hand below).
[[maybe_unused]] void every_field_is_listed(const GeneratorOptions& g, const ModelMetadata& m) {
  [[maybe_unused]] const auto& [family, input_nc, output_nc, ngf, n_blocks, use_dropout, mobile, norm, antialias_down,
                                antialias_up, upsample_conv, unet_downs, space_to_depth] = g;
  [[maybe_unused]] const auto& [generator, batch_stats, direction, crop_size, epochs_trained, source, teacher,
                                format_version] = m;
}

namespace {

// Format 1 named three fields otherwise; they are read under their new names.
void upgrade_from_version_1(nlohmann::json& j) {
  if (j.contains("block")) j["mobile"] = j["block"] == "mobile";
  if (j.contains("dropout")) j["use_dropout"] = j["dropout"];
  if (j.contains("batch_norm_statistics")) j["batch_stats"] = j["batch_norm_statistics"] == "frame";
}

// The rule a file records must be its generator's: anything else is a damaged or hand-edited file
// whose frames would be padded wrongly.
template <typename Bad>
void check_size_rule(const nlohmann::json& j, const ModelMetadata& m, const Bad& bad) {
  const SizeRule rule = m.size_rule();
  const int64_t multiple = j.value("size_multiple", rule.multiple), min = j.value("min_size", rule.min);
  if (multiple != rule.multiple || min != rule.min)
    throw bad("it records frames in multiples of " + std::to_string(multiple) + ", at least " + std::to_string(min) +
              ", but its generator " + m.architecture() + " needs " + rule.describe());
}

}  // namespace

std::string ModelMetadata::to_json() const {
  const SizeRule rule = size_rule();
  nlohmann::ordered_json j = {
      {"format", "cyclegan-gst generator"}, {"format_version", format_version}, {"architecture", architecture()}};
  // Key by key rather than update(), which would reorder an ordered_json's keys.
  const nlohmann::json generator_fields = generator, own_fields = *this;
  for (const auto& [key, value] : generator_fields.items()) j[key] = value;
  for (const auto& [key, value] : own_fields.items()) j[key] = value;
  j["macs_per_256x256_frame"] = macs_per_frame(generator);
  j["size_multiple"] = rule.multiple;
  j["min_size"] = rule.min;
  j["value_range"] = {-1.0, 1.0};
  j["layout"] = "NCHW RGB float";
  return j.dump(2);
}

ModelMetadata ModelMetadata::from_json(const std::string& text, const std::string& file) {
  const auto bad = [&](const std::string& why) {
    return Error(ErrorKind::kModel, file + ": bad " + kMetadataFile + " (" + why + ")");
  };
  ModelMetadata m;
  try {
    auto j = nlohmann::json::parse(text);
    m.format_version = j.value("format_version", 0);
    if (m.format_version < 1 || m.format_version > kModelFormatVersion)
      throw Error(ErrorKind::kModel, file + ": model format version " + std::to_string(m.format_version) +
                                         " is not supported (this build reads 1.." +
                                         std::to_string(kModelFormatVersion) + ")");
    if (m.format_version == 1) upgrade_from_version_1(j);
    const int version = m.format_version;
    m = j.get<ModelMetadata>();
    m.format_version = version;
    m.generator = j.get<GeneratorOptions>();
    // Ranges first: the size rule and the name below are computed from these.
    const GeneratorOptions& g = m.generator;
    if (g.family == Family::kUnet && (g.unet_downs < 5 || g.unet_downs > 12))
      throw bad("unet_downs " + std::to_string(g.unet_downs) + " is not 5..12");
    if (g.ngf < 1 || g.n_blocks < 0 || g.input_nc < 1 || g.output_nc < 1)
      throw bad("ngf, n_blocks, input_nc or output_nc out of range");
    if (!valid_space_to_depth(g.space_to_depth) || (g.family == Family::kUnet && g.space_to_depth != 1))
      throw bad("space_to_depth " + std::to_string(g.space_to_depth) + " is not 1, 2 or 4 (1 for a U-Net)");
    // A name that is not its generator's (say s2d4_… over a space_to_depth of 1) is a damaged or
    // hand-edited file: which of the two is right cannot be told.
    const std::string recorded = j.value("architecture", m.architecture());
    if (recorded != m.architecture())
      throw bad("it records the architecture " + recorded + ", but its fields describe " + m.architecture());
    check_size_rule(j, m, bad);
  } catch (const nlohmann::json::exception& e) {
    throw bad(e.what());
  } catch (const std::invalid_argument& e) {
    throw bad(e.what());
  }
  return m;
}

ModelMetadata ModelMetadata::for_generator(const GeneratorOptions& o) {
  ModelMetadata m;
  m.generator = o;
  return m;
}

}  // namespace cg
