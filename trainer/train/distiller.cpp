#include "trainer/train/distiller.h"

#include "common/error.h"

#include <torch/nn/modules/conv.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <utility>

namespace cg {

namespace nn = torch::nn;

namespace {

constexpr int64_t kMaxTaps = 3;

// The preset's generator with the parts --student-* set; a resume finds the preset's name and the
// parts in the checkpoint's options.
GeneratorOptions student_options(const TrainOptions& o) {
  const StudentPreset* preset = find_student_preset(o.student);
  if (preset == nullptr)
    throw Error(ErrorKind::kUsage, "--student " + o.student + " is not a preset (" + student_preset_names() + ")");
  GeneratorOptions g = preset_generator(*preset);
  g.ngf = o.student_ngf;
  g.n_blocks = o.student_blocks;
  g.mobile = o.student_block == "mobile";
  g.space_to_depth = o.student_s2d;
  return g;
}

LoadedModel load_teacher(const std::string& path) {
  if (path.empty()) throw Error(ErrorKind::kUsage, "--teacher is required: the G.pt to distil");
  try {
    return load_generator(path);
  } catch (const Error& e) {
    throw Error(ErrorKind::kUsage, std::string("--teacher: ") + e.what());
  }
}

}  // namespace

LoadedModel settle_distill_options(TrainOptions& opt, const std::map<std::string, bool>& given) {
  const StudentPreset* preset = find_student_preset(opt.student);
  if (preset == nullptr)
    throw Error(ErrorKind::kUsage, "--student " + opt.student + " is not a preset (" + student_preset_names() + ")");
  // Unset parts take the preset's; a resume finds them all set, as the checkpoint recorded them.
  if (opt.student_ngf == 0) opt.student_ngf = preset->ngf;
  if (opt.student_blocks < 0) opt.student_blocks = preset->blocks;
  if (opt.student_block.empty()) opt.student_block = preset->mobile ? "mobile" : "resnet";
  if (opt.student_s2d == 0) opt.student_s2d = preset->space_to_depth;
  if (!valid_space_to_depth(opt.student_s2d))
    throw Error(ErrorKind::kUsage,
                "--student-s2d " + std::to_string(opt.student_s2d) + " is not 1, 2 or 4 (pixels across per fold)");
  LoadedModel teacher = load_teacher(opt.teacher);
  if (!teacher.has_metadata) return teacher;
  const std::string& d = teacher.metadata.direction;
  const auto g = given.find("direction");
  if (g != given.end() && g->second && opt.direction != d)
    throw Error(ErrorKind::kUsage, "--direction " + opt.direction + " contradicts the teacher " + opt.teacher +
                                       ", which translates " + d +
                                       ": the student learns the teacher's input domain (leave --direction out)");
  opt.direction = d;
  return teacher;
}

SizeRule distill_size_rule(const TrainOptions& o, const LoadedModel& teacher) {
  const GeneratorOptions student = student_options(o);
  const SizeRule s = size_rule(student), t = teacher.size_rule;
  check_crop(o, s, "the student " + architecture_name(student));
  check_crop(o, t, "the teacher " + o.teacher);
  return {std::lcm(s.multiple, t.multiple), std::max(s.min, t.min)};
}

std::vector<int64_t> feature_taps(const Layers& layers, int64_t count) {
  const auto blocks = positions_of(layers, LayerKind::kResidual);
  const auto mobile = positions_of(layers, LayerKind::kMobileResidual);
  const auto& trunk = blocks.empty() ? mobile : blocks;
  // The downsampling ends where the trunk, or without blocks the upsampling, begins.
  const auto ups = positions_of(layers, LayerKind::kUpConv);
  if (count < 1 || (trunk.empty() && ups.empty())) return {};
  std::vector<int64_t> taps{(trunk.empty() ? ups.front() : trunk.front()) - 1};
  const auto n = static_cast<int64_t>(trunk.size());
  for (int64_t k = 1; k < count && n > 0; ++k) taps.push_back(trunk[(k * n + count - 2) / (count - 1) - 1]);
  return taps;
}

Distiller::Distiller(const TrainOptions& o, const torch::Device& dev) : Distiller(o, dev, load_teacher(o.teacher)) {}

Distiller::Distiller(const TrainOptions& o, const torch::Device& dev, LoadedModel teacher, uint64_t seed, int rank)
    : TrainableModel(dev, decide_run_mode(o, dev.is_cuda())),
      o_(o),
      teacher_file_(std::move(teacher)),
      temporal_rng_(derive_seed(seed, 121, static_cast<uint64_t>(rank))) {
  const GeneratorOptions so = student_options(o);
  student = Generator(so);
  initialise(*student, o.init_type, o.init_gain);
  mappings = nn::ModuleList();
  // Feature maps are matched between ResNets; a U-Net teacher's have other sizes and meanings.
  if (teacher_file_.has_metadata && teacher_file_.metadata.generator.family == Family::kResnet && o.lambda_feat > 0) {
    teacher_ = trainable_generator(teacher_file_, o.teacher);
    teacher_->to(device);
    teacher_->eval();
    for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
    const int64_t count = std::min({kMaxTaps + 1, so.n_blocks + 1, teacher_->options().n_blocks + 1});
    teacher_taps_ = feature_taps(teacher_->layers(), count);
    student_taps_ = feature_taps(student->layers(), count);
    const int64_t from = so.ngf << kDownsamplings, to = teacher_->options().ngf << kDownsamplings;
    for (size_t i = 0; i < student_taps_.size(); ++i) mappings->push_back(nn::Conv2d(nn::Conv2dOptions(from, to, 1)));
    initialise(*mappings, o.init_type, o.init_gain);
  } else {
    teacher_file_.module.to(device);
  }
  D = Discriminator(discriminator_options(o));
  initialise(*D, o.init_type, o.init_gain);
  for (const auto& [name, net] : networks()) {
    net->to(device);
    net->train();
  }
  auto g_params = student->parameters();
  for (const auto& p : mappings->parameters()) g_params.push_back(p);
  optimizer_G = make_adam(std::move(g_params), o.lr, o.beta1, mode);
  optimizer_D = make_adam(D->parameters(), o.lr, o.beta1, mode);
}

std::vector<std::string> Distiller::loss_names() const {
  std::vector<std::string> names = {"G_recon", "G_feat", "G_gan", "D"};
  if (o_.lambda_temporal > 0) names.emplace_back("G_temporal");
  return names;
}

Named<Rng> Distiller::rngs() {
  if (o_.lambda_temporal > 0) return {{"temporal_rng", &temporal_rng_}};
  return {};
}

Named<torch::nn::Module> Distiller::networks() {
  return {{"student", student.get()}, {"mappings", mappings.get()}, {"D", D.get()}};
}

Named<torch::optim::Optimizer> Distiller::optimizers() {
  return {{"optimizer_G", optimizer_G.get()}, {"optimizer_D", optimizer_D.get()}};
}

std::vector<GeneratorExport> Distiller::exports() {
  auto meta = ModelMetadata::for_generator(student->options());
  meta.direction = o_.direction;
  const std::string arch = teacher_file_.has_metadata ? teacher_file_.metadata.architecture() + ", ngf " +
                                                            std::to_string(teacher_file_.metadata.generator.ngf)
                                                      : "TorchScript";
  meta.teacher = std::filesystem::path(o_.teacher).filename().string() + " (" + arch + ")";
  return {{"G.pt", student, meta}};
}

std::string Distiller::describe() {
  std::string s = "student " + architecture_name(student->options()) + ", ngf " +
                  std::to_string(student->options().ngf) + ": " + std::to_string(count_parameters(*student)) +
                  " parameters, " + std::to_string(macs_per_frame(student->options()) / 1000000) +
                  " M multiply-adds at " + std::to_string(kCostFrameSide) + "x" + std::to_string(kCostFrameSide);
  if (teacher_) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, "%.1f",
                  static_cast<double>(macs_per_frame(teacher_->options())) /
                      static_cast<double>(macs_per_frame(student->options())));
    s += " (teacher: " + std::to_string(macs_per_frame(teacher_->options()) / 1000000) + " M, " + ratio +
         "x the student's; " + std::to_string(teacher_taps_.size()) + " feature maps distilled)";
  } else if (teacher_file_.has_metadata) {
    s += " (teacher " + teacher_file_.metadata.architecture() + ": outputs only, its features do not match a ResNet's)";
  } else {
    s += " (teacher without cyclegan-gst metadata: outputs only, no feature distillation)";
  }
  return s;
}

at::Tensor Distiller::teach(const at::Tensor& x, std::vector<at::Tensor>& features) {
  torch::NoGradGuard no_grad;
  if (teacher_) return teacher_->forward_with_features(x, Upsampling::kSubpixel, teacher_taps_, features);
  return teacher_file_.module.forward({x}).toTensor();
}

DeviceLosses Distiller::step(const at::Tensor& A_in, const at::Tensor& B_in) {
  const at::Tensor real_A = A_in.to(device, /*non_blocking=*/true), real_B = B_in.to(device, /*non_blocking=*/true);
  std::vector<at::Tensor> teacher_features, student_features;
  const at::Tensor target = teach(real_A, teacher_features);
  at::Tensor fake, recon, feat, gan, d, temporal;
  {
    AutocastScope amp(device.type(), mode.amp);
    fake = student->forward_with_features(real_A, Upsampling::kTransposed, student_taps_, student_features);
    std::vector<at::Tensor> mapped;
    for (size_t i = 0; i < student_features.size(); ++i)
      mapped.push_back(fp32(mappings->ptr(i)->as<nn::Conv2dImpl>()->forward(student_features[i])));
    set_requires_grad(*D, false);
    recon = reconstruction_loss(fp32(fake), target, o_.lambda_recon);
    feat = feature_loss(mapped, teacher_features, o_.lambda_feat);
    gan = gan_loss(fp32(D->forward(fake)), true, GanMode::lsgan) * o_.lambda_gan;
    if (o_.lambda_temporal > 0) {
      const RandomMotion motion = draw_motion(temporal_rng_, real_A);
      const at::Tensor second = student->forward_training(motion.second_frame(real_A));
      temporal = temporal_loss(fp32(second), motion.move(fp32(fake)), motion.valid, o_.lambda_temporal);
    }
  }
  optimizer_G->zero_grad();
  scaler.scale(temporal.defined() ? recon + feat + gan + temporal : recon + feat + gan).backward();

  set_requires_grad(*D, true);
  optimizer_D->zero_grad();
  {
    AutocastScope amp(device.type(), mode.amp);
    d = discriminator_loss(fp32(D->forward(real_B)), fp32(D->forward(fake.detach())), GanMode::lsgan);
  }
  scaler.scale(d).backward();
  // As in CycleGan::step: the student steps after the discriminator's backward, which does not
  // read its weights, so that its gradients' all-reduce overlaps that backward under torchrun.
  for (auto* optimizer : {optimizer_G.get(), optimizer_D.get()}) {
    if (sync_gradients) sync_gradients(optimizer->param_groups()[0].params());
    scaler.step(*optimizer);
  }
  scaler.update();
  // Without features the feature loss is a CPU zero.
  std::vector<at::Tensor> v = {recon.detach(), feat.detach().to(recon.device(), at::kFloat), gan.detach(), d.detach()};
  if (temporal.defined()) v.push_back(temporal.detach());
  return {at::stack(v).to(at::kDouble), loss_names()};
}

Visuals Distiller::translate(const at::Tensor& A_in, const at::Tensor& B_in) {
  torch::NoGradGuard no_grad;
  const at::Tensor real_A = A_in.to(device);
  std::vector<at::Tensor> unused;
  return {{"real_A", real_A},
          {"teacher", teach(real_A, unused)},
          {"student", student->forward(real_A)},
          {"real_B", B_in.to(device)}};
}

}  // namespace cg
