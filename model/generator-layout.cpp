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
  const LayerKind block = o.mobile ? LayerKind::kMobileResidual : LayerKind::kResidual;
  for (int64_t i = 0; i < o.n_blocks; ++i) l.push_back({block, deepest, deepest});
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

Layers mobile_residual_layers(int64_t dim, bool use_dropout) {
  Layers l;
  for (int half = 0; half < 2; ++half) {
    if (half == 1 && use_dropout) l.push_back({LayerKind::kDropout});
    l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
    l.push_back({LayerKind::kConv, dim, dim, 3, 1, 0, dim});
    l.push_back({LayerKind::kNorm, dim, dim});
    l.push_back({LayerKind::kConv, dim, dim, 1, 1, 0});
    l.push_back({LayerKind::kNorm, dim, dim});
    if (half == 0) l.push_back({LayerKind::kRelu});
  }
  return l;
}

Layers block_layers(const Layer& block, bool use_dropout) {
  return block.kind == LayerKind::kMobileResidual ? mobile_residual_layers(block.out, use_dropout)
                                                  : residual_layers(block.out, use_dropout);
}

std::string architecture_name(const GeneratorOptions& o) {
  return std::string(o.mobile ? "mobile_" : "") + "resnet_" + std::to_string(o.n_blocks) + "blocks";
}

namespace {

// Follows one image's shape through `layers`, calling visit(layer, c, h, w) with the shape each
// layer receives; returns the final shape. Blocks are visited inside as well as as a whole.
struct Shape {
  int64_t c, h, w;
};

template <typename Visit>
Shape walk_shapes(const Layers& layers, Shape s, Visit&& visit) {
  for (const Layer& l : layers) {
    visit(l, s);
    switch (l.kind) {
      case LayerKind::kReflectPad: s = {s.c, s.h + 2 * l.padding, s.w + 2 * l.padding}; break;
      case LayerKind::kConv:
        s = {l.out, (s.h + 2 * l.padding - l.kernel) / l.stride + 1, (s.w + 2 * l.padding - l.kernel) / l.stride + 1};
        break;
      case LayerKind::kUpConv: s = {l.out, s.h * l.stride, s.w * l.stride}; break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: walk_shapes(block_layers(l, false), s, visit); break;
      default: break;
    }
  }
  return s;
}

}  // namespace

int64_t largest_activation(const Layers& layers, int64_t c, int64_t h, int64_t w) {
  int64_t largest = c * h * w;
  const Shape end = walk_shapes(layers, {c, h, w},
                                [&](const Layer&, const Shape& s) { largest = std::max(largest, s.c * s.h * s.w); });
  return std::max(largest, end.c * end.h * end.w);
}

int64_t count_macs(const Layers& layers, int64_t c, int64_t h, int64_t w) {
  int64_t macs = 0;
  walk_shapes(layers, {c, h, w}, [&](const Layer& l, const Shape& s) {
    if (l.kind == LayerKind::kConv) {
      const int64_t oh = (s.h + 2 * l.padding - l.kernel) / l.stride + 1;
      const int64_t ow = (s.w + 2 * l.padding - l.kernel) / l.stride + 1;
      macs += l.out * (l.in / l.groups) * l.kernel * l.kernel * oh * ow;
    } else if (l.kind == LayerKind::kUpConv) {
      macs += l.in * l.out * l.kernel * l.kernel * s.h * s.w;
    }
  });
  return macs;
}

std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind) {
  std::vector<int64_t> at;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == kind) at.push_back(static_cast<int64_t>(i));
  return at;
}

}  // namespace cg
