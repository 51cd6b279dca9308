#include "trainer/cli/export-command.h"

#include "common/defaults.h"
#include "model/model-file.h"
#include "model/official-import.h"
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

// A G.pt given as --from keeps its weights and gets the metadata options that were given.
void run_reexport(const ExportOptions& opt, const CLI::App& cmd) {
  auto meta = load_generator(opt.from).metadata;
  if (cmd.count("--direction")) meta.direction = opt.direction;
  if (cmd.count("--crop-size")) meta.crop_size = opt.crop_size;
  save_with_metadata(opt.from, meta, opt.to);
  std::cout << "wrote " << opt.to << ": " << meta.architecture() << ", ngf " << meta.generator.ngf << ", "
            << meta.direction << ", crop " << meta.crop_size << "\n";
}

bool is_torchscript(const std::string& path) {
  try {
    load_generator(path);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void run_export(const ExportOptions& opt) {
  const auto r = recognise_generator(read_state_dict(opt.from), opt.from, opt.arch);
  Generator g(r.options);
  load_recognised(g, r, opt.from);
  g->eval();
  auto meta = ModelMetadata::for_generator(g->options());
  meta.direction = opt.direction;
  meta.crop_size = opt.crop_size;
  meta.batch_stats = opt.bn_mode == "train" && r.options.norm == Norm::kBatch;
  meta.source = "state_dict " + std::filesystem::path(opt.from).filename().string() +
                (r.by_name ? "" : " (matched by tensor order and shape)");
  save_generator(g, meta, opt.to);
  std::cout << "wrote " << opt.to << ": " << meta.architecture() << " (" << r.arch << ", " << norm_name(r.options.norm)
            << " norm" << (r.options.use_dropout ? ", dropout" : "")
            << (r.options.antialias_down || r.options.antialias_up ? ", anti-aliased" : "")
            << (meta.batch_stats ? ", batch statistics per frame" : "") << "), ngf " << meta.generator.ngf << ", "
            << count_parameters(*g) << " parameters, " << meta.direction << ", frames padded to multiples of "
            << size_multiple(r.options) << (r.by_name ? "" : "; matched by tensor order and shape") << "\n";
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto opt = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand("export",
                                 "Convert an official generator state_dict (.pth) into a G.pt model file, or copy a "
                                 "G.pt with corrected --direction/--crop-size metadata");
  cmd->add_option("--from", opt->from, "official generator weights (e.g. latest_net_G_A.pth) or a G.pt")->required();
  cmd->add_option("--to", opt->to, "model file to write")->required();
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
    // A .pth is a pickle zip without TorchScript code; try the G.pt route only for TorchScript.
    if (is_torchscript(opt->from))
      run_reexport(*opt, *cmd);
    else
      run_export(*opt);
  });
}

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("info", "Print a G.pt model file's metadata after loading and checking it");
  cmd->add_option("model", *path, "model file")->required();
  cmd->callback([path] {
    auto m = load_generator(*path);
    std::cout << (m.has_metadata ? m.metadata.to_json()
                                 : std::string("(no metadata: a TorchScript generator from elsewhere)"))
              << "\n";
    // Ours store transposed convs in their larger sub-pixel form: counted as trained.
    int64_t parameters = 0;
    if (m.has_metadata) {
      parameters = count_parameters(*trainable_generator(m, *path));
    } else {
      for (const auto& p : m.module.parameters()) parameters += p.numel();
    }
    std::cout << "parameters: " << parameters << "\n";
    std::cout << "frames padded to " << m.size_rule.describe() << "\n";
    if (m.has_metadata) {
      const auto& d = m.metadata;
      const GeneratorOptions& g = d.generator;
      std::cout << "generator: " << d.architecture() << ", " << norm_name(g.norm) << " norm"
                << (g.norm == Norm::kBatch ? (d.batch_stats ? " (statistics of each frame)" : " (running statistics)")
                                           : "")
                << (g.use_dropout ? ", dropout" : "") << (g.antialias_down || g.antialias_up ? ", antialias" : "")
                << (g.upsample_conv ? ", upsample + conv" : "") << "\n";
      std::cout << "multiply-adds per " << kCostFrameSide << "x" << kCostFrameSide
                << " frame: " << static_cast<double>(macs_per_frame(g)) / 1e9 << " G\n";
    }
  });
}

}  // namespace cg
