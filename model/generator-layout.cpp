#include "model/generator-layout.h"

#include <algorithm>

namespace cg {

namespace {

void conv_norm_relu(Layers& l, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  l.push_back({LayerKind::kConv, in, out, kernel, stride, padding});
  l.push_back({LayerKind::kNorm, out, out});
  l.push_back({LayerKind::kRelu});
}

}  // namespace

Layers generator_layers(const GeneratorOptions& o) {
  Layers l;
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 3});
  conv_norm_relu(l, o.input_nc, o.ngf, 7, 1, 0);
  for (int64_t i = 0; i < kDownsamplings; ++i) {
    const int64_t ch = o.ngf << i;
    conv_norm_relu(l, ch, ch * 2, 3, 2, 1);
  }
  const int64_t deepest = o.ngf << kDownsamplings;
  for (int64_t i = 0; i < o.n_blocks; ++i) l.push_back({LayerKind::kResidual, deepest, deepest});
  for (int64_t i = kDownsamplings; i > 0; --i) {
    const int64_t ch = o.ngf << i;
    l.push_back({LayerKind::kUpConv, ch, ch / 2, 3, 2, 1});
    l.push_back({LayerKind::kNorm, ch / 2, ch / 2});
    l.push_back({LayerKind::kRelu});
  }
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 3});
  l.push_back({LayerKind::kConv, o.ngf, o.output_nc, 7, 1, 0});
  l.push_back({LayerKind::kTanh});
  return l;
}

Layers residual_layers(int64_t dim, bool use_dropout) {
  Layers l;
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
  conv_norm_relu(l, dim, dim, 3, 1, 0);
  if (use_dropout) l.push_back({LayerKind::kDropout});
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
  l.push_back({LayerKind::kConv, dim, dim, 3, 1, 0});
  l.push_back({LayerKind::kNorm, dim, dim});
  return l;
}

int64_t largest_activation(const Layers& layers, int64_t c, int64_t h, int64_t w) {
  int64_t largest = c * h * w;
  for (const Layer& l : layers) {
    switch (l.kind) {
      case LayerKind::kReflectPad:
        h += 2 * l.padding;
        w += 2 * l.padding;
        break;
      case LayerKind::kConv:
        c = l.out;
        h = (h + 2 * l.padding - l.kernel) / l.stride + 1;
        w = (w + 2 * l.padding - l.kernel) / l.stride + 1;
        break;
      case LayerKind::kUpConv:
        c = l.out;
        h *= l.stride;
        w *= l.stride;
        break;
      case LayerKind::kResidual:
        largest = std::max(largest, largest_activation(residual_layers(l.out, false), c, h, w));
        break;
      default: break;
    }
    largest = std::max(largest, c * h * w);
  }
  return largest;
}

std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind) {
  std::vector<int64_t> at;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == kind) at.push_back(static_cast<int64_t>(i));
  return at;
}

}  // namespace cg
