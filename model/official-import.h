// Import of generator weights saved by the official pytorch-CycleGAN-and-pix2pix code
// (torch.save(net.state_dict(), 'latest_net_G_A.pth')).
#pragma once

#include "model/networks.h"
#include "model/state-dict-reader.h"

#include <string>

namespace cg {

// Reads ngf, the block count, dropout and channel counts from the tensor shapes. Throws
// cg::Error when the dict is not a ResnetGenerator's.
GeneratorOptions infer_generator_options(const NamedTensors& state, const std::string& name);

// Copies `state` into `g` by official name. InstanceNorm running statistics (the 2018 pretrained
// files carry them) and a DataParallel "module." prefix are ignored; any other missing, extra or
// mis-shaped key is refused with a message naming the first one.
void load_official_state(ResnetGenerator& g, const NamedTensors& state, const std::string& name);

ResnetGenerator import_official_generator(const std::string& pth_path);

}  // namespace cg
