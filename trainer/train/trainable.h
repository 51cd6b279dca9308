// What the training loop (train.cpp) asks of a model: one step on a batch of A and B, sample
// images, and the named parts a checkpoint saves and a distributed run keeps in step. The
// cycle_gan model and the distillation of a student generator are two such models; the loop, its
// checkpoints, progress, loss log and samples page are theirs alike.
#pragma once

#include "model/discriminators.h"
#include "model/metadata.h"
#include "model/networks.h"
#include "trainer/data/image-pool.h"
#include "trainer/train/mixed-precision.h"
#include "trainer/train/random.h"
#include "trainer/train/run-mode.h"

#include <torch/optim/adam.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace cg {

struct Losses {
  std::vector<std::string> names;
  std::vector<double> values;
};

// The losses of one step (or a sum of steps) as one float64 tensor on the model's device.
// Reading values waits for the device, so the training loop reads only what it shows; float64
// keeps sums and means what summing the values as doubles on the host gives.
struct DeviceLosses {
  at::Tensor values;
  std::vector<std::string> names;

  Losses read() const;  // one copy to the host
  DeviceLosses& operator+=(const DeviceLosses& other);
};

// One row of the samples page: named images, in the order shown.
using Visuals = std::vector<std::pair<std::string, at::Tensor>>;

template <typename T>
using Named = std::vector<std::pair<const char*, T*>>;

// A generator the run writes as a G.pt beside every checkpoint. The loop completes its metadata
// with the training crop, the epochs done and the run's name.
struct GeneratorExport {
  const char* file;
  Generator net;
  ModelMetadata metadata;
};

class TrainableModel {
 public:
  TrainableModel(const torch::Device& device, const RunMode& mode)
      : device(device), mode(mode), scaler(mode.loss_scaling, device) {}
  virtual ~TrainableModel() = default;

  virtual std::vector<std::string> loss_names() const = 0;
  // One iteration. The batches may be in pinned host memory: they are copied to the device
  // without blocking.
  virtual DeviceLosses step(const at::Tensor& A, const at::Tensor& B) = 0;
  virtual Visuals translate(const at::Tensor& A, const at::Tensor& B) = 0;

  // The parts a checkpoint holds, under stable names. networks() are also what a distributed run
  // broadcasts and checks; pools() (and LibTorch's CPU generator) are what differs per rank.
  virtual Named<torch::nn::Module> networks() = 0;
  virtual Named<torch::optim::Optimizer> optimizers() = 0;
  virtual Named<ImagePool> pools() { return {}; }
  // The model's own random generators (per rank, like the pools), saved so a resume draws on.
  virtual Named<Rng> rngs() { return {}; }
  virtual std::vector<GeneratorExport> exports() = 0;
  // A line for the banner: the networks and their sizes.
  virtual std::string describe() = 0;

  void set_lr(double lr);
  double lr();

  const torch::Device device;
  const RunMode mode;  // from the options and the device; the process-wide part is train.cpp's
  LossScaler scaler;   // enabled for fp16 only
  // Distributed runs: averages the gradients of these parameters over the ranks, between each
  // backward and its optimizer step. Empty when training alone.
  std::function<void(const std::vector<at::Tensor>&)> sync_gradients;
};

struct TrainOptions;

// Helpers the models share.
// The discriminator --netD, --ndf, --n-layers-D and --norm ask for ("basic" = 3 layers, the 70x70
// PatchGAN).
DiscriminatorOptions discriminator_options(const TrainOptions& o);
// The generator --netG, --ngf, --norm and --dropout describe. Throws a usage Error when the crop
// does not fit its size rule (a U-Net's 2^depth: unet_256 trains on 256 x 256 crops).
GeneratorOptions generator_options(const TrainOptions& o);
// Throws a usage Error naming `rule` and `who` (the generator it is of) when --preprocess crops
// and --crop-size does not fit the rule. The modes that keep each image's own size round it to
// the rule instead (PreprocessOptions::size_rule).
void check_crop(const TrainOptions& o, const SizeRule& rule, const std::string& who);
void set_requires_grad(torch::nn::Module& net, bool on);
// The official init_weights: conv weights by `type` (normal, xavier, kaiming, orthogonal), biases 0;
// BatchNorm weights from N(1, gain), biases 0, whatever the type.
void initialise(torch::nn::Module& net, const std::string& type, double gain);
// Adam with the options' lr and beta1 (beta2 0.999), ATen's fused kernel when the mode says so.
std::unique_ptr<torch::optim::Adam> make_adam(std::vector<at::Tensor> params, double lr, double beta1,
                                              const RunMode& mode);
// Losses in fp32 whatever autocast computed the networks in; a no-op in fp32 training.
inline at::Tensor fp32(const at::Tensor& t) { return t.to(at::kFloat); }

}  // namespace cg
