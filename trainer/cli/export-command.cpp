#include "trainer/cli/export-command.h"

#include "common/defaults.h"
#include "model/model-file.h"
#include "model/official-import.h"
#include "model/onnx-export.h"
#include "model/safetensors.h"
#include "model/state-dict-reader.h"

#include <filesystem>
#include <iostream>
#include <memory>

namespace cg {

namespace {

struct ExportOptions {
  std::string from;
  std::string to;
  std::string direction = "AtoB";
  int64_t crop_size = kDefaultCropSize;
  std::string arch;              // empty: recognised from the tensors
  std::string bn_mode = "eval";  // eval: running statistics; train: each frame's own statistics
};

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// A model file of ours given as --from keeps its weights and metadata, but for the metadata
// options that were given.
void override_metadata(ModelMetadata& meta, const ExportOptions& opt, const CLI::App& cmd) {
  if (cmd.count("--direction")) meta.direction = opt.direction;
  if (cmd.count("--crop-size")) meta.crop_size = opt.crop_size;
}

void report(const std::string& to, const ModelMetadata& meta) {
  std::cout << "wrote " << to << ": " << meta.architecture() << ", ngf " << meta.generator.ngf << ", " << meta.direction
            << ", crop " << meta.crop_size << "\n";
}

// A G.pt to a G.pt copies its TorchScript as it is; to a G.safetensors or G.onnx, its weights go
// back to the trainable form, under the official state_dict names.
void run_reexport(const ExportOptions& opt, const CLI::App& cmd) {
  const auto loaded = load_generator(opt.from);
  auto meta = loaded.metadata;
  override_metadata(meta, opt, cmd);
  if (ends_with(opt.to, ".safetensors"))
    save_generator_safetensors(*trainable_generator(loaded, opt.from), meta, opt.to);
  else if (is_onnx_file(opt.to))
    save_generator_onnx(*trainable_generator(loaded, opt.from), meta, opt.to);
  else
    save_with_metadata(opt.from, meta, opt.to);
  report(opt.to, meta);
}

void save(Generator& g, const ModelMetadata& meta, const std::string& to) {
  if (ends_with(to, ".safetensors"))
    save_generator_safetensors(*g, meta, to);
  else if (is_onnx_file(to))
    save_generator_onnx(*g, meta, to);
  else
    save_generator(g, meta, to);
}

bool is_torchscript(const std::string& path) {
  try {
    load_generator(path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

// Recognition by tensor order needs the module's order, which a safetensors file does not keep
// (Python's writer sorts the names): its tensors come in the order of their names, which is the
// module's for nn.Sequential numbering but not for named submodules. Say so when that failed.
RecognisedGenerator recognise(const ExportOptions& opt, const NamedTensors& tensors) {
  try {
    return recognise_generator(tensors, opt.from, opt.arch);
  } catch (const Error& e) {
    const std::string what = e.what();
    if (!is_safetensors_file(opt.from) || what.find("by tensor order") == std::string::npos) throw;
    throw Error(e.kind(), what +
                              "; a safetensors file keeps no module order, so tensors not named as the official "
                              "code names them were taken in the order of their names");
  }
}

void run_import(const ExportOptions& opt, const NamedTensors& tensors) {
  const auto r = recognise(opt, tensors);
  Generator g(r.options);
  load_recognised(g, r, opt.from);
  g->eval();
  auto meta = ModelMetadata::for_generator(g->options());
  meta.direction = opt.direction;
  meta.crop_size = opt.crop_size;
  meta.batch_stats = opt.bn_mode == "train" && r.options.norm == Norm::kBatch;
  meta.source = (is_safetensors_file(opt.from) ? "safetensors " : "state_dict ") +
                std::filesystem::path(opt.from).filename().string() +
                (r.by_name ? "" : " (matched by tensor order and shape)");
  save(g, meta, opt.to);
  std::cout << "wrote " << opt.to << ": " << meta.architecture() << " (" << r.arch << ", " << norm_name(r.options.norm)
            << " norm" << (r.options.use_dropout ? ", dropout" : "")
            << (r.options.antialias_down || r.options.antialias_up ? ", anti-aliased" : "")
            << (meta.batch_stats ? ", batch statistics per frame" : "") << "), ngf " << meta.generator.ngf << ", "
            << count_parameters(*g) << " parameters, " << meta.direction << ", frames padded to multiples of "
            << size_multiple(r.options) << (r.by_name ? "" : "; matched by tensor order and shape") << "\n";
}

// A safetensors file of ours carries its metadata and is copied as a G.pt from the trainer would
// be; one from elsewhere is recognised by its tensors, as a .pth is.
void run_safetensors(const ExportOptions& opt, const CLI::App& cmd) {
  auto file = read_safetensors(opt.from);
  if (!has_generator_metadata(file)) return run_import(opt, file.tensors);
  auto [g, meta] = generator_from_safetensors(file, opt.from);
  override_metadata(meta, opt, cmd);
  save(g, meta, opt.to);
  report(opt.to, meta);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto opt = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export",
                                 "Convert generator weights (a .pth or pytorch_model.bin state_dict, a .safetensors "
                                 "file) into a G.pt, G.safetensors or G.onnx model file, or copy a model file of ours "
                                 "with corrected --direction/--crop-size metadata");
  cmd->add_option("--from", opt->from,
                  "generator weights (e.g. latest_net_G_A.pth, pytorch_model.bin, X.safetensors) or a G.pt or "
                  "G.safetensors of ours")
      ->required();
  cmd->add_option("--to", opt->to,
                  "model file to write: G.safetensors (weights and metadata), G.onnx (ONNX opset 17, float32, "
                  "for ONNX Runtime and TensorRT), else a G.pt")
      ->required();
  cmd->add_option("--direction", opt->direction, "translation recorded in the metadata")
      ->check(CLI::IsMember({"AtoB", "BtoA"}))
      ->capture_default_str();
  cmd->add_option("--crop-size,--crop_size", opt->crop_size, "training crop recorded in the metadata")
      ->check(CLI::Range(8, 8192))
      ->capture_default_str();
  cmd->add_option("--arch", opt->arch,
                  "generator family, when the tensors fit more than one: resnet | resnet-upsample | cut-resnet | "
                  "unet (default: recognised from the tensors)")
      ->check(CLI::IsMember(import_architectures()));
  cmd->add_option("--bn-mode,--bn_mode", opt->bn_mode,
                  "batch norm: eval = running statistics (model.eval()); train = each frame's own statistics, as "
                  "the official test.py without --eval")
      ->check(CLI::IsMember({"eval", "train"}))
      ->capture_default_str();
  cmd->callback([opt, cmd] {
    if (is_onnx_file(opt->from))
      throw Error(ErrorKind::kUsage, opt->from +
                                         ": ONNX files are written, not read; export from the G.pt, .pth or "
                                         ".safetensors it was made from");
    // A .pth is a pickle zip without TorchScript code; try the G.pt route only for TorchScript.
    if (is_safetensors_file(opt->from))
      run_safetensors(*opt, *cmd);
    else if (is_torchscript(opt->from))
      run_reexport(*opt, *cmd);
    else
      run_import(*opt, read_state_dict(opt->from));
  });
}

namespace {

// What `info` prints of a model file of ours: the metadata, the parameters, the size rule, a
// summary line and the cost.
void print_ours(const ModelMetadata& d, int64_t parameters) {
  std::cout << d.to_json() << "\n";
  std::cout << "parameters: " << parameters << "\n";
  std::cout << "frames padded to " << d.size_rule().describe() << "\n";
  const GeneratorOptions& g = d.generator;
  std::cout << "generator: " << d.architecture() << ", " << norm_name(g.norm) << " norm"
            << (g.norm == Norm::kBatch ? (d.batch_stats ? " (statistics of each frame)" : " (running statistics)") : "")
            << (g.use_dropout ? ", dropout" : "") << (g.antialias_down || g.antialias_up ? ", antialias" : "")
            << (g.upsample_conv ? ", upsample + conv" : "")
            << (g.space_to_depth > 1 ? ", space-to-depth by " + std::to_string(g.space_to_depth) : "") << "\n";
  std::cout << "multiply-adds per " << kCostFrameSide << "x" << kCostFrameSide
            << " frame: " << static_cast<double>(macs_per_frame(g)) / 1e9 << " G\n";
}

void print_safetensors(const std::string& path) {
  const auto file = read_safetensors(path);
  if (has_generator_metadata(file)) {
    const auto m = generator_from_safetensors(file, path);
    print_ours(m.metadata, count_parameters(*m.generator));
    return;
  }
  // Weights from elsewhere: what `export` would make of them.
  const auto r = recognise_generator(file.tensors, path);
  std::cout << "(no metadata: safetensors weights from elsewhere; `export --from` reads them as below)\n";
  auto meta = ModelMetadata::for_generator(r.options);
  meta.source = "safetensors " + std::filesystem::path(path).filename().string();
  print_ours(meta, count_parameters(*Generator(r.options)));
}

// A G.onnx keeps the metadata of the model it was exported from; its weights are not read back.
void print_onnx(const std::string& path) {
  const auto s = read_onnx_summary(path);
  std::cout << "ONNX model: IR version " << s.ir_version << ", opset " << s.opset << ", " << s.nodes << " nodes, "
            << s.initializers << " initializers" << (s.producer.empty() ? "" : ", written by " + s.producer) << "\n";
  const auto it = s.metadata.find(kOnnxMetadataKey);
  if (it == s.metadata.end()) {
    std::cout << "(no cyclegan-gst metadata: an ONNX model from elsewhere)\n";
    return;
  }
  const auto meta = ModelMetadata::from_json(it->second, path);
  print_ours(meta, count_parameters(*Generator(meta.generator)));
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "info", "Print a model file's metadata (G.pt, G.safetensors, G.onnx) after loading and checking it");
  cmd->add_option("model", *path, "model file")->required();
  cmd->callback([path] {
    if (is_safetensors_file(*path)) return print_safetensors(*path);
    if (is_onnx_file(*path)) return print_onnx(*path);
    auto m = load_generator(*path);
    if (m.has_metadata) return print_ours(m.metadata, count_parameters(*trainable_generator(m, *path)));
    std::cout << "(no metadata: a TorchScript generator from elsewhere)\n";
    int64_t parameters = 0;
    for (const auto& p : m.module.parameters()) parameters += p.numel();
    std::cout << "parameters: " << parameters << "\n";
    std::cout << "frames padded to " << m.size_rule.describe() << "\n";
  });
}

}  // namespace cg
