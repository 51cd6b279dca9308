#include "trainer/train/cycle-gan.h"

#include "common/error.h"

#include <torch/torch.h>

namespace cg {

namespace {

std::vector<torch::Tensor> params_of(torch::nn::Module& a, torch::nn::Module& b) {
  auto p = a.parameters();
  auto q = b.parameters();
  p.insert(p.end(), q.begin(), q.end());
  return p;
}

// Batch-norm running statistics of `net`, put back when the scope ends: the sample images must
// leave the networks as training left them, or a resume from a checkpoint saved before them
// would differ.
class KeepBuffers {
 public:
  explicit KeepBuffers(std::initializer_list<torch::nn::Module*> nets) {
    for (auto* net : nets)
      for (auto& b : net->buffers()) kept_.emplace_back(b, b.clone());
  }
  ~KeepBuffers() {
    torch::NoGradGuard no_grad;
    for (auto& [live, copy] : kept_) live.copy_(copy);
  }

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> kept_;
};

}  // namespace

CycleGan::CycleGan(const TrainOptions& o, const torch::Device& dev, uint64_t seed, int rank)
    : TrainableModel(dev, decide_run_mode(o, dev.is_cuda())),
      pool_A(o.pool_size, derive_seed(seed, 101, static_cast<uint64_t>(rank))),
      pool_B(o.pool_size, derive_seed(seed, 102, static_cast<uint64_t>(rank))),
      o_(o),
      gan_mode_(gan_mode_from(o.gan_mode)),
      penalty_rng_(derive_seed(seed, 103, static_cast<uint64_t>(rank))),
      temporal_rng_(derive_seed(seed, 104, static_cast<uint64_t>(rank))) {
  const GeneratorOptions go = generator_options(o);
  const DiscriminatorOptions dopt = discriminator_options(o);
  // The official creation order: G_A, G_B, D_A, D_B, each initialised as it is made.
  G_A = Generator(go);
  initialise(*G_A, o.init_type, o.init_gain);
  G_B = Generator(go);
  initialise(*G_B, o.init_type, o.init_gain);
  D_A = Discriminator(dopt);
  initialise(*D_A, o.init_type, o.init_gain);
  D_B = Discriminator(dopt);
  initialise(*D_B, o.init_type, o.init_gain);
  for (const auto& [name, net] : networks()) {
    net->to(device);
    net->train();
  }
  optimizer_G = make_adam(params_of(*G_A, *G_B), o.lr, o.beta1, mode);
  optimizer_D = make_adam(params_of(*D_A, *D_B), o.lr, o.beta1, mode);
}

std::vector<std::string> CycleGan::loss_names() const {
  std::vector<std::string> names = {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"};
  if (o_.lambda_temporal > 0) names.insert(names.end(), {"temporal_A", "temporal_B"});
  return names;
}

Named<torch::nn::Module> CycleGan::networks() {
  return {{"G_A", G_A.get()}, {"G_B", G_B.get()}, {"D_A", D_A.get()}, {"D_B", D_B.get()}};
}

Named<torch::optim::Optimizer> CycleGan::optimizers() {
  return {{"optimizer_G", optimizer_G.get()}, {"optimizer_D", optimizer_D.get()}};
}

Named<ImagePool> CycleGan::pools() { return {{"pool_A", &pool_A}, {"pool_B", &pool_B}}; }

Named<Rng> CycleGan::rngs() {
  Named<Rng> r = {{"penalty_rng", &penalty_rng_}};
  if (o_.lambda_temporal > 0) r.emplace_back("temporal_rng", &temporal_rng_);
  return r;
}

std::vector<GeneratorExport> CycleGan::exports() {
  auto meta = [&](Generator& g, bool a_to_b) {
    auto m = ModelMetadata::for_generator(g->options());
    m.direction = (a_to_b == (o_.direction == "AtoB")) ? "AtoB" : "BtoA";
    return m;
  };
  return {{"G_A.pt", G_A, meta(G_A, true)}, {"G_B.pt", G_B, meta(G_B, false)}};
}

std::string CycleGan::describe() {
  return "generators " + std::to_string(count_parameters(*G_A)) + " parameters each, discriminators " +
         std::to_string(count_parameters(*D_A));
}

// The tensors of one step, kept for its whole length as the official model keeps them.
struct CycleGan::StepTensors {
  at::Tensor real_A, real_B;
  at::Tensor fake_B, fake_A, same_B, same_A, rec_A, rec_B;  // same_B = G_A(B), same_A = G_B(A)
  at::Tensor d_A, g_A, c_A, idt_A, d_B, g_B, c_B, idt_B;    // losses, in the official order
  // --lambda-temporal: each input's second frame, the generator's output for it, and the loss.
  RandomMotion motion_A, motion_B;
  at::Tensor second_fake_B, second_fake_A;  // G_A(second frame of A), G_B(second frame of B)
  at::Tensor tc_A, tc_B;

  DeviceLosses losses() const {
    auto value = [&](const at::Tensor& t) {
      return t.defined() ? t.detach().to(at::kFloat) : at::zeros({}, real_A.options());
    };
    std::vector<at::Tensor> v = {value(d_A), value(g_A), value(c_A), value(idt_A),
                                 value(d_B), value(g_B), value(c_B), value(idt_B)};
    if (names.size() > v.size()) v.insert(v.end(), {value(tc_A), value(tc_B)});
    return {at::stack(v).to(at::kDouble), names};
  }
  std::vector<std::string> names;
};

DeviceLosses CycleGan::step(const at::Tensor& A_in, const at::Tensor& B_in) {
  StepTensors t;
  t.names = loss_names();
  t.real_A = A_in.to(device, /*non_blocking=*/true);
  t.real_B = B_in.to(device, /*non_blocking=*/true);
  forward(t);
  generators_backward(t);
  discriminators_backward(t);
  // The generators step only after the discriminators' backward, which reads neither their
  // weights nor their gradients, so no value changes; under torchrun the generators' last
  // gradient buckets travel, and the slower rank catches up, while that backward runs.
  step_averaged(*optimizer_G);
  step_averaged(*optimizer_D);
  scaler.update();
  return t.losses();
}

// The official passes, then with --lambda-temporal each generator on its input's second frame:
// after the official ones, so batch norm's running statistics take those first.
void CycleGan::forward(StepTensors& t) {
  AutocastScope amp(device.type(), mode.amp);
  if (o_.lambda_temporal > 0) {
    t.motion_A = draw_motion(temporal_rng_, t.real_A);
    t.motion_B = draw_motion(temporal_rng_, t.real_B);
  }
  forward_official(t);
  if (o_.lambda_temporal > 0) {
    t.second_fake_B = G_A->forward_training(t.motion_A.second_frame(t.real_A));
    t.second_fake_A = G_B->forward_training(t.motion_B.second_frame(t.real_B));
  }
}

// Both cycles, with the identity mappings. Each generator's two independent passes (G_A on A and
// on B, G_B on B and on A) run as one batch: InstanceNorm works per image, so the results are
// those of separate passes, and larger batches use the cores better. Batch norm's statistics
// would mix the two, so it makes the official passes in the official order.
void CycleGan::forward_official(StepTensors& t) {
  const bool identity = o_.lambda_identity > 0;
  const int64_t n = t.real_A.size(0);
  if (identity && t.real_A.sizes() == t.real_B.sizes() && o_.norm != "batch") {
    auto ga = G_A->forward_training(torch::cat({t.real_A, t.real_B}));
    auto gb = G_B->forward_training(torch::cat({t.real_B, t.real_A}));
    t.fake_B = ga.narrow(0, 0, n);
    t.same_B = ga.narrow(0, n, n);
    t.fake_A = gb.narrow(0, 0, t.real_B.size(0));
    t.same_A = gb.narrow(0, t.real_B.size(0), n);
    t.rec_A = G_B->forward_training(t.fake_B);
    t.rec_B = G_A->forward_training(t.fake_A);
    return;
  }
  t.fake_B = G_A->forward_training(t.real_A);
  t.rec_A = G_B->forward_training(t.fake_B);
  t.fake_A = G_B->forward_training(t.real_B);
  t.rec_B = G_A->forward_training(t.fake_A);
  if (identity) {
    t.same_B = G_A->forward_training(t.real_B);
    t.same_A = G_B->forward_training(t.real_A);
  }
}

// With the discriminators frozen so their weights collect no gradient.
void CycleGan::generators_backward(StepTensors& t) {
  set_requires_grad(*D_A, false);
  set_requires_grad(*D_B, false);
  optimizer_G->zero_grad();
  scaler.scale(generator_loss(t)).backward();
}

void CycleGan::step_averaged(torch::optim::Optimizer& optimizer) {
  if (sync_gradients) sync_gradients(optimizer.param_groups()[0].params());
  scaler.step(optimizer);
}

at::Tensor CycleGan::generator_loss(StepTensors& t) {
  AutocastScope amp(device.type(), mode.amp);
  auto loss_G = torch::zeros({}, t.real_A.options());
  if (o_.lambda_identity > 0) {
    t.idt_A = identity_loss(fp32(t.same_B), t.real_B, o_.lambda_B, o_.lambda_identity);
    t.idt_B = identity_loss(fp32(t.same_A), t.real_A, o_.lambda_A, o_.lambda_identity);
    loss_G = loss_G + t.idt_A + t.idt_B;
  }
  t.g_A = gan_loss(fp32(D_A->forward(t.fake_B)), true, gan_mode_);
  t.g_B = gan_loss(fp32(D_B->forward(t.fake_A)), true, gan_mode_);
  t.c_A = cycle_loss(fp32(t.rec_A), t.real_A, o_.lambda_A);
  t.c_B = cycle_loss(fp32(t.rec_B), t.real_B, o_.lambda_B);
  loss_G = loss_G + t.g_A + t.g_B + t.c_A + t.c_B;
  if (o_.lambda_temporal > 0) {
    t.tc_A =
        temporal_loss(fp32(t.second_fake_B), t.motion_A.move(fp32(t.fake_B)), t.motion_A.valid, o_.lambda_temporal);
    t.tc_B =
        temporal_loss(fp32(t.second_fake_A), t.motion_B.move(fp32(t.fake_A)), t.motion_B.valid, o_.lambda_temporal);
    loss_G = loss_G + t.tc_A + t.tc_B;
  }
  return loss_G;
}

// On the pools' mix of new and older fakes.
void CycleGan::discriminators_backward(StepTensors& t) {
  set_requires_grad(*D_A, true);
  set_requires_grad(*D_B, true);
  optimizer_D->zero_grad();
  // The pools keep fp32 images whatever autocast made, so checkpoints do not depend on --amp.
  t.d_A = discriminator_loss(D_A, t.real_B, pool_B.query(fp32(t.fake_B.detach())));
  scaler.scale(t.d_A).backward();
  t.d_B = discriminator_loss(D_B, t.real_A, pool_A.query(fp32(t.fake_A.detach())));
  scaler.scale(t.d_B).backward();
}

at::Tensor CycleGan::discriminator_loss(Discriminator& D, const at::Tensor& real, const at::Tensor& fake) {
  at::Tensor loss;
  {
    AutocastScope amp(device.type(), mode.amp);
    loss = cg::discriminator_loss(fp32(D->forward(real)), fp32(D->forward(fake)), gan_mode_);
  }
  if (gan_mode_ != GanMode::wgangp) return loss;
  // Not in the official cycle_gan model, which defines cal_gradient_penalty but never calls it:
  // without it the WGAN critic is unconstrained. Added after the halving, at the official weight 10.
  if (real.sizes() != fake.sizes())
    throw Error(ErrorKind::kUsage,
                "--gan-mode wgangp: the gradient penalty mixes real and generated images, which "
                "differ in size here; use a --preprocess that crops to --crop-size");
  // 24 random bits: exactly representable in float32, in [0, 1) as torch.rand.
  std::vector<float> alpha(static_cast<size_t>(real.size(0)));
  for (auto& a : alpha) a = static_cast<float>(penalty_rng_.below(1u << 24)) / static_cast<float>(1u << 24);
  // The penalty's input gradient is taken outside autocast, as torch.autocast asks of backward passes.
  const auto critic = [&](const at::Tensor& x) {
    AutocastScope amp(device.type(), mode.amp);
    return fp32(D->forward(x));
  };
  return loss + gradient_penalty(critic, real, fake, at::tensor(alpha));
}

Visuals CycleGan::translate(const at::Tensor& A_in, const at::Tensor& B_in) {
  torch::NoGradGuard no_grad;
  const KeepBuffers keep({G_A.get(), G_B.get()});
  const at::Tensor real_A = A_in.to(device), real_B = B_in.to(device);
  const at::Tensor fake_B = G_A->forward(real_A), fake_A = G_B->forward(real_B);
  return {{"real_A", real_A}, {"fake_B", fake_B}, {"rec_A", G_B->forward(fake_B)},
          {"real_B", real_B}, {"fake_A", fake_A}, {"rec_B", G_A->forward(fake_A)}};
}

}  // namespace cg
