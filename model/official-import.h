// Import of generator weights saved by other projects' PyTorch code as state_dicts
// (torch.save(net.state_dict(), 'latest_net_G_A.pth')): the official CycleGAN/pix2pix
// ResnetGenerator (instance, batch or no norm, with or without dropout) and UnetGenerator, CUT's
// anti-aliased ResnetGenerator, and third-party ResNets whose keys are named otherwise.
#pragma once

#include "model/networks.h"
#include "model/state-dict-reader.h"

#include <string>
#include <vector>

namespace cg {

// The families --arch names: "resnet", "resnet-upsample" (nearest upsampling + conv on the way
// up), "cut-resnet" (CUT's anti-aliasing) and "unet".
const std::vector<std::string>& import_architectures();

// What a state_dict was recognised as, and its tensors under the keys of state_dict_layout().
// CUT's fixed blur filters may be absent (forks that do not save them): the module's own are used.
struct RecognisedGenerator {
  GeneratorOptions options;
  std::string arch;     // one of import_architectures()
  bool by_name = true;  // the keys are the official ones; otherwise matched by order and shape
  NamedTensors tensors;
};

// Tries every generator this importer knows (only the family `arch` when it is not empty): first
// by the official key names, then by the order and shapes of the tensors. The block count, ngf,
// norm, dropout, U-Net depth and anti-aliasing are read from the tensors. Throws cg::Error naming
// `name`: for no fit, the first tensor that does not fit the closest architecture and what was
// expected there; for several fits, the candidates, to choose between with --arch. InstanceNorm
// running statistics (the 2018 pretrained files carry them), BatchNorm's num_batches_tracked and
// a DataParallel "module." prefix are ignored.
RecognisedGenerator recognise_generator(const NamedTensors& state, const std::string& name,
                                        const std::string& arch = "");

// The tensors of a weights file: a torch.save zip (.pth, the Hub's pytorch_model.bin) or a
// safetensors file (is_safetensors_file()), in the order recognition by tensor order needs.
NamedTensors read_weights(const std::string& path);

// Copies the recognised tensors into `g`, built from r.options.
void load_recognised(Generator& g, const RecognisedGenerator& r, const std::string& name);

// The options alone, and a generator holding the weights, in eval mode.
GeneratorOptions infer_generator_options(const NamedTensors& state, const std::string& name,
                                         const std::string& arch = "");
Generator import_official_generator(const std::string& weights_path, const std::string& arch = "");

}  // namespace cg
