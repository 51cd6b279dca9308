#include "trainer/train/pix2pix.h"

#include "common/error.h"

#include <ATen/Context.h>
#include <torch/torch.h>

namespace cg {

namespace {

// What a sample leaves behind must not change training: batch-norm running statistics are put
// back, and the random generators dropout draws from are rewound, so a run that writes samples
// and one resumed from a checkpoint saved before them go on identically.
class Untouched {
 public:
  Untouched(torch::nn::Module& net, const torch::Device& device)
      : cpu_(at::detail::getDefaultCPUGenerator()), cpu_state_(cpu_.get_state()) {
    for (auto& b : net.buffers()) kept_.emplace_back(b, b.clone());
    if (device.is_cuda()) {
      dev_ = at::globalContext().defaultGenerator(device);
      dev_state_ = dev_.get_state();
    }
  }
  ~Untouched() {
    torch::NoGradGuard no_grad;
    for (auto& [live, copy] : kept_) live.copy_(copy);
    cpu_.set_state(cpu_state_);
    if (dev_.defined()) dev_.set_state(dev_state_);
  }
  Untouched(const Untouched&) = delete;
  Untouched& operator=(const Untouched&) = delete;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> kept_;
  at::Generator cpu_, dev_;
  at::Tensor cpu_state_, dev_state_;
};

}  // namespace

at::Tensor pix2pix_l1(const at::Tensor& fake_B, const at::Tensor& real_B, double lambda_L1) {
  return at::l1_loss(fake_B, real_B) * lambda_L1;
}

Pix2Pix::Pix2Pix(const TrainOptions& o, const torch::Device& dev, uint64_t seed, int rank)
    : TrainableModel(dev, decide_run_mode(o, dev.is_cuda())),
      pool(o.pool_size, derive_seed(seed, 111, static_cast<uint64_t>(rank))),
      o_(o),
      gan_mode_(gan_mode_from(o.gan_mode)),
      temporal_rng_(derive_seed(seed, 112, static_cast<uint64_t>(rank))) {
  // The official pix2pix never calls its gradient penalty, which leaves a WGAN critic
  // unconstrained; rather than train that silently, it is refused.
  if (gan_mode_ == GanMode::wgangp)
    throw Error(ErrorKind::kUsage, "--gan-mode wgangp is not supported with --model pix2pix (vanilla or lsgan)");
  const GeneratorOptions go = generator_options(o);
  DiscriminatorOptions dopt = discriminator_options(o);
  dopt.input_nc = go.input_nc + go.output_nc;  // D sees the input beside the output
  // The official creation order, each network initialised as it is made.
  G = Generator(go);
  initialise(*G, o.init_type, o.init_gain);
  D = Discriminator(dopt);
  initialise(*D, o.init_type, o.init_gain);
  for (const auto& [name, net] : networks()) {
    net->to(device);
    net->train();
  }
  optimizer_G = make_adam(G->parameters(), o.lr, o.beta1, mode);
  optimizer_D = make_adam(D->parameters(), o.lr, o.beta1, mode);
}

std::vector<std::string> Pix2Pix::loss_names() const {
  std::vector<std::string> names = {"G_GAN", "G_L1", "D_real", "D_fake"};
  if (o_.lambda_temporal > 0) names.emplace_back("G_temporal");
  return names;
}

Named<torch::nn::Module> Pix2Pix::networks() { return {{"G", G.get()}, {"D", D.get()}}; }

Named<torch::optim::Optimizer> Pix2Pix::optimizers() {
  return {{"optimizer_G", optimizer_G.get()}, {"optimizer_D", optimizer_D.get()}};
}

Named<ImagePool> Pix2Pix::pools() { return {{"fake_AB_pool", &pool}}; }

Named<Rng> Pix2Pix::rngs() {
  if (o_.lambda_temporal > 0) return {{"temporal_rng", &temporal_rng_}};
  return {};
}

std::vector<GeneratorExport> Pix2Pix::exports() {
  auto m = ModelMetadata::for_generator(G->options());
  m.direction = o_.direction;
  m.batch_stats = batch_stats && G->options().norm == Norm::kBatch;
  return {{"G.pt", G, m}};
}

std::string Pix2Pix::describe() {
  return "pix2pix: generator " + architecture_name(G->options()) + " " + std::to_string(count_parameters(*G)) +
         " parameters, discriminator on (A, B) pairs " + std::to_string(count_parameters(*D));
}

struct Pix2Pix::StepTensors {
  at::Tensor real_A, real_B, fake_B;
  at::Tensor g_gan, g_l1, d_real, d_fake;  // in the official order
  // --lambda-temporal: the motion of A, G's output for A's second frame, and the loss.
  RandomMotion motion;
  at::Tensor second_fake_B, g_temporal;
};

DeviceLosses Pix2Pix::step(const at::Tensor& A_in, const at::Tensor& B_in) {
  const int64_t multiple = size_multiple(G->options());
  if (A_in.size(2) % multiple != 0 || A_in.size(3) % multiple != 0)
    throw Error(ErrorKind::kUsage, "--netG " + architecture_name(G->options()) +
                                       " needs image sides that are multiples of " + std::to_string(multiple) +
                                       ", not " + std::to_string(A_in.size(3)) + "x" + std::to_string(A_in.size(2)) +
                                       "; use --preprocess resize_and_crop or crop");
  StepTensors t;
  t.real_A = A_in.to(device, /*non_blocking=*/true);
  t.real_B = B_in.to(device, /*non_blocking=*/true);
  {
    AutocastScope amp(device.type(), mode.amp);
    t.fake_B = G->forward_training(t.real_A);
    if (o_.lambda_temporal > 0) {
      t.motion = draw_motion(temporal_rng_, t.real_A);
      t.second_fake_B = G->forward_training(t.motion.second_frame(t.real_A));
    }
  }
  update_discriminator(t);
  update_generator(t);
  scaler.update();
  auto value = [](const at::Tensor& x) { return x.detach().to(at::kFloat); };
  std::vector<at::Tensor> v = {value(t.g_gan), value(t.g_l1), value(t.d_real), value(t.d_fake)};
  if (t.g_temporal.defined()) v.push_back(value(t.g_temporal));
  return {at::stack(v).to(at::kDouble), loss_names()};
}

void Pix2Pix::update_discriminator(StepTensors& t) {
  set_requires_grad(*D, true);
  optimizer_D->zero_grad();
  // The pool keeps fp32 pairs whatever autocast made, so checkpoints do not depend on --amp.
  const at::Tensor fake_AB = pool.query(torch::cat({t.real_A, fp32(t.fake_B.detach())}, 1));
  at::Tensor loss;
  {
    AutocastScope amp(device.type(), mode.amp);
    t.d_fake = gan_loss(fp32(D->forward(fake_AB)), false, gan_mode_);
    t.d_real = gan_loss(fp32(D->forward(torch::cat({t.real_A, t.real_B}, 1))), true, gan_mode_);
    loss = (t.d_fake + t.d_real) * 0.5;
  }
  scaler.scale(loss).backward();
  if (sync_gradients) sync_gradients(optimizer_D->param_groups()[0].params());
  scaler.step(*optimizer_D);
}

void Pix2Pix::update_generator(StepTensors& t) {
  set_requires_grad(*D, false);
  optimizer_G->zero_grad();
  at::Tensor loss;
  {
    AutocastScope amp(device.type(), mode.amp);
    t.g_gan = gan_loss(fp32(D->forward(torch::cat({t.real_A, t.fake_B}, 1))), true, gan_mode_);
    t.g_l1 = pix2pix_l1(fp32(t.fake_B), t.real_B, o_.lambda_L1);
    loss = t.g_gan + t.g_l1;
    if (o_.lambda_temporal > 0) {
      t.g_temporal =
          temporal_loss(fp32(t.second_fake_B), t.motion.move(fp32(t.fake_B)), t.motion.valid, o_.lambda_temporal);
      loss = loss + t.g_temporal;
    }
  }
  scaler.scale(loss).backward();
  if (sync_gradients) sync_gradients(optimizer_G->param_groups()[0].params());
  scaler.step(*optimizer_G);
}

Visuals Pix2Pix::translate(const at::Tensor& A_in, const at::Tensor& B_in) {
  torch::NoGradGuard no_grad;
  const Untouched keep(*G, device);
  const at::Tensor real_A = A_in.to(device), real_B = B_in.to(device);
  // With per-frame batch statistics, G.pt's batch norms are those of training mode; with running
  // statistics, those of eval mode. Dropout, absent from G.pt, runs here when training uses it.
  at::Tensor fake_B;
  if (G->options().norm == Norm::kBatch && !batch_stats) {
    G->eval();
    fake_B = G->forward(real_A);
    G->train();
  } else {
    fake_B = G->forward(real_A);
  }
  return {{"real_A", real_A}, {"fake_B", fake_B}, {"real_B", real_B}};
}

}  // namespace cg
