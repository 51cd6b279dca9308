#include "model/generator-script.h"

#include "model/fast-ops.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>

namespace cg {

namespace nn = torch::nn;

namespace {

// Emits one statement per layer on the variable `v`. Inside define() only aten ops are visible
// (torch.reflection_pad2d, not torch.nn.functional.pad). Weights are named after the official
// keys with dots as underscores: model_1_weight, model_10_conv_block_5_bias.
class ScriptWriter {
 public:
  ScriptWriter(torch::jit::Module& m, bool batch_stats) : m_(m), batch_stats_(batch_stats) {}

  void walk(const Layers& layers, nn::Sequential seq, const std::string& prefix, const std::string& v, int depth = 0) {
    const std::string inner = "y" + std::to_string(depth);
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = layers[i];
      const std::string name = prefix + "_" + std::to_string(i);
      switch (l.kind) {
        case LayerKind::kReflectPad: line(v, "torch.reflection_pad2d(" + v + ", " + quad(l.padding) + ")"); break;
        case LayerKind::kConv: {
          const auto* c = seq[i]->as<nn::Conv2dImpl>();
          line(v, conv(v, name, c->weight, c->bias) + ", " + pair(l.stride) + ", " + pair(l.padding) + ", [1, 1], " +
                      std::to_string(l.groups) + ")");
          break;
        }
        case LayerKind::kNorm: norm(l, seq->ptr(i), name, v); break;
        case LayerKind::kRelu: line(v, "torch.relu(" + v + ")"); break;
        case LayerKind::kLeakyRelu: line(v, "torch.leaky_relu(" + v + ", 0.2)"); break;
        case LayerKind::kDropout: break;  // a G.pt runs in eval mode
        case LayerKind::kResidual:
        case LayerKind::kMobileResidual: {
          const auto* b = seq[i]->as<ResnetBlockImpl>();
          line(inner, v);
          walk(b->layers(), b->conv_block, name + "_conv_block", inner, depth + 1);
          line(v, v + " + " + inner);
          break;
        }
        case LayerKind::kSkip: {
          const auto* b = seq[i]->as<UnetBlockImpl>();
          line(inner, v);
          walk(b->layers(), b->model, name + "_model", inner, depth + 1);
          line(v, "torch.cat([" + v + ", " + inner + "], 1)");
          break;
        }
        case LayerKind::kUpConv: {
          const auto* t = seq[i]->as<nn::ConvTranspose2dImpl>();
          if (l.kernel == 3) {
            // The sub-pixel form of fast-ops.h: pad right and bottom by one, 2x2 conv, pixel_shuffle.
            const std::string padded = "torch.constant_pad_nd(" + v + ", [0, 1, 0, 1], 0.0)";
            line(v, "torch.pixel_shuffle(" +
                        conv(padded, name + "_subpixel", subpixel_weight(t->weight), sub_bias(t->bias)) + "), 2)");
          } else {
            line(v, "torch.conv_transpose2d(" + v + ", " + tensor(name + "_weight", t->weight) + ", " +
                        optional(name + "_bias", t->bias) + ", " + pair(l.stride) + ", " + pair(l.padding) + ", " +
                        pair(output_padding(l)) + ", 1, [1, 1])");
          }
          break;
        }
        case LayerKind::kTanh: line(v, "torch.tanh(" + v + ")"); break;
        case LayerKind::kBlurDown:
          line(v, "torch.conv2d(torch.reflection_pad2d(" + v + ", [1, 1, 1, 1]), " +
                      buffer(name + "_filt", seq[i]->as<BlurImpl>()->filt) + ", None, [2, 2], [0, 0], [1, 1], " +
                      std::to_string(l.out) + ")");
          break;
        case LayerKind::kBlurUp:
          // CUT's Upsample; see blur_up() in networks.cpp.
          line(v, "torch.conv_transpose2d(torch.replication_pad2d(" + v + ", [1, 1, 1, 1]), " +
                      buffer(name + "_filt", seq[i]->as<BlurImpl>()->filt) + ", None, [2, 2], [2, 2], [0, 0], " +
                      std::to_string(l.out) + ", [1, 1])");
          line(v, v + "[:, :, 1:-1, 1:-1]");
          break;
        case LayerKind::kNearestUp:
          line(v, "torch.upsample_nearest2d(" + v + ", [" + v + ".size(2) * 2, " + v + ".size(3) * 2])");
          break;
        case LayerKind::kSpaceToDepth:
          line(v, "torch.pixel_unshuffle(" + v + ", " + std::to_string(l.stride) + ")");
          break;
        case LayerKind::kDepthToSpace:
          line(v, "torch.pixel_shuffle(" + v + ", " + std::to_string(l.stride) + ")");
          break;
      }
    }
  }

  std::string source() const {
    return "def _norm(self, x: Tensor) -> Tensor:\n"
           "    return torch.group_norm(x, x.size(1), None, None, 1e-05, True)\n\n"
           "def forward(self, x: Tensor) -> Tensor:\n" +
           body_.str() + "    return x\n";
  }

 private:
  void line(const std::string& v, const std::string& expr) { body_ << "    " << v << " = " << expr << "\n"; }

  // "torch.conv2d(x, self.W, self.B" with W and B registered as parameters; the caller closes it.
  std::string conv(const std::string& x, const std::string& name, const at::Tensor& w, const at::Tensor& b) {
    return "torch.conv2d(" + x + ", " + tensor(name + "_weight", w) + ", " + optional(name + "_bias", b);
  }

  static at::Tensor sub_bias(const at::Tensor& b) { return b.defined() ? subpixel_bias(b) : at::Tensor(); }

  static at::Tensor stored(const at::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kFloat).contiguous().clone();
  }

  std::string tensor(const std::string& name, const at::Tensor& t) {
    m_.register_parameter(name, stored(t), false);
    return "self." + name;
  }
  std::string optional(const std::string& name, const at::Tensor& t) { return t.defined() ? tensor(name, t) : "None"; }
  std::string buffer(const std::string& name, const at::Tensor& t) {
    m_.register_buffer(name, stored(t));
    return "self." + name;
  }

  void norm(const Layer& l, const std::shared_ptr<nn::Module>& m, const std::string& name, const std::string& v) {
    const auto affine = [&](const at::Tensor& w, const at::Tensor& b) {
      line(v, "self._norm(" + v + ") * " + tensor(name + "_weight", w) + ".view([-1, 1, 1]) + " +
                  tensor(name + "_bias", b) + ".view([-1, 1, 1])");
    };
    switch (l.norm) {
      case Norm::kInstance: line(v, "self._norm(" + v + ")"); break;
      case Norm::kInstanceAffine: {
        const auto* n = m->as<nn::InstanceNorm2dImpl>();
        affine(n->weight, n->bias);
        break;
      }
      case Norm::kBatch: {
        const auto* n = m->as<nn::BatchNorm2dImpl>();
        // Batch statistics of each frame alone (the official test.py without --eval, one frame
        // per batch) are an instance norm with the batch norm's affine parameters.
        if (batch_stats_) {
          affine(n->weight, n->bias);
          // Kept, unused, so that the file still holds the whole trained generator.
          buffer(name + "_running_mean", n->running_mean);
          buffer(name + "_running_var", n->running_var);
        } else {
          line(v, "torch.batch_norm(" + v + ", " + tensor(name + "_weight", n->weight) + ", " +
                      tensor(name + "_bias", n->bias) + ", " + buffer(name + "_running_mean", n->running_mean) + ", " +
                      buffer(name + "_running_var", n->running_var) + ", False, 0.1, 1e-05, True)");
        }
        break;
      }
      case Norm::kNone: break;
    }
  }

  static std::string pair(int64_t v) { return "[" + std::to_string(v) + ", " + std::to_string(v) + "]"; }
  static std::string quad(int64_t v) {
    const std::string s = std::to_string(v);
    return "[" + s + ", " + s + ", " + s + ", " + s + "]";
  }

  torch::jit::Module& m_;
  bool batch_stats_;
  std::ostringstream body_;
};

}  // namespace

torch::jit::Module generator_script(GeneratorImpl& generator, bool batch_stats) {
  torch::NoGradGuard no_grad;
  torch::jit::Module m("__torch__.cyclegan_gst.Generator");
  ScriptWriter writer(m, batch_stats);
  std::string prefix = generator.body_key();
  std::replace(prefix.begin(), prefix.end(), '.', '_');
  writer.walk(generator.layers(), generator.body, prefix, "x");
  m.define(writer.source());
  m.eval();
  return m;
}

}  // namespace cg
