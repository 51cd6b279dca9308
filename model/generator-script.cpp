#include "model/generator-script.h"

#include "model/fast-ops.h"

#include <torch/nn/modules/conv.h>
#include <torch/torch.h>

#include <sstream>

namespace cg {

namespace nn = torch::nn;

namespace {

// Emits one statement per layer on the variable `v`. Inside define() only aten ops are visible
// (torch.reflection_pad2d, not torch.nn.functional.pad). Weights are named after the official
// keys with dots as underscores: model_1_weight, model_10_conv_block_5_bias.
class ScriptWriter {
 public:
  explicit ScriptWriter(torch::jit::Module& m) : m_(m) {}

  void walk(const Layers& layers, nn::Sequential seq, const std::string& prefix, const std::string& v) {
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
        case LayerKind::kNorm: line(v, "self._norm(" + v + ")"); break;
        case LayerKind::kRelu: line(v, "torch.relu(" + v + ")"); break;
        case LayerKind::kDropout: break;  // a G.pt runs in eval mode
        case LayerKind::kResidual:
        case LayerKind::kMobileResidual: {
          const auto* b = seq[i]->as<ResnetBlockImpl>();
          line("y", v);
          walk(b->layers(), b->conv_block, name + "_conv_block", "y");
          line(v, v + " + y");
          break;
        }
        case LayerKind::kUpConv: {
          // The sub-pixel form of fast-ops.h: pad right and bottom by one, 2x2 conv, pixel_shuffle.
          const auto* t = seq[i]->as<nn::ConvTranspose2dImpl>();
          const std::string padded = "torch.constant_pad_nd(" + v + ", [0, 1, 0, 1], 0.0)";
          line(v, "torch.pixel_shuffle(" +
                      conv(padded, name + "_subpixel", subpixel_weight(t->weight), subpixel_bias(t->bias)) + "), 2)");
          break;
        }
        case LayerKind::kTanh: line(v, "torch.tanh(" + v + ")"); break;
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
    m_.register_parameter(name + "_weight", w.detach().to(torch::kCPU, torch::kFloat).contiguous().clone(), false);
    m_.register_parameter(name + "_bias", b.detach().to(torch::kCPU, torch::kFloat).contiguous().clone(), false);
    return "torch.conv2d(" + x + ", self." + name + "_weight, self." + name + "_bias";
  }

  static std::string pair(int64_t v) { return "[" + std::to_string(v) + ", " + std::to_string(v) + "]"; }
  static std::string quad(int64_t v) {
    const std::string s = std::to_string(v);
    return "[" + s + ", " + s + ", " + s + ", " + s + "]";
  }

  torch::jit::Module& m_;
  std::ostringstream body_;
};

}  // namespace

torch::jit::Module generator_script(ResnetGeneratorImpl& generator) {
  torch::NoGradGuard no_grad;
  torch::jit::Module m("__torch__.cyclegan_gst.Generator");
  ScriptWriter writer(m);
  writer.walk(generator.layers(), generator.model, "model", "x");
  m.define(writer.source());
  m.eval();
  return m;
}

}  // namespace cg
