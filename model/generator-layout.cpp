#include "model/generator-layout.h"

#include <algorithm>
#include <stdexcept>

namespace cg {

bool norm_uses_bias(Norm n) { return n == Norm::kInstance || n == Norm::kInstanceAffine; }

const char* norm_name(Norm n) {
  switch (n) {
    case Norm::kInstance: return "instance";
    case Norm::kInstanceAffine: return "instance_affine";
    case Norm::kBatch: return "batch";
    case Norm::kNone: return "none";
  }
  return "?";
}

Norm parse_norm(const std::string& s) {
  for (Norm n : {Norm::kInstance, Norm::kInstanceAffine, Norm::kBatch, Norm::kNone})
    if (s == norm_name(n)) return n;
  throw std::invalid_argument("unknown norm '" + s + "' (instance, instance_affine, batch or none)");
}

const char* family_name(Family f) { return f == Family::kUnet ? "unet" : "resnet"; }

Family parse_family(const std::string& s) {
  for (Family f : {Family::kResnet, Family::kUnet})
    if (s == family_name(f)) return f;
  throw std::invalid_argument("unknown generator family '" + s + "' (resnet or unet)");
}

namespace {

Layer conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, bool bias) {
  Layer l{LayerKind::kConv, in, out, kernel, stride, padding};
  l.bias = bias;
  return l;
}

Layer norm(int64_t ch, Norm n) {
  Layer l{LayerKind::kNorm, ch, ch};
  l.norm = n;
  return l;
}

Layer up_conv(int64_t in, int64_t out, int64_t kernel, bool bias) {
  Layer l{LayerKind::kUpConv, in, out, kernel, 2, 1};
  l.bias = bias;
  return l;
}

void conv_norm_relu(Layers& l, int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, Norm n) {
  l.push_back(conv(in, out, kernel, stride, padding, norm_uses_bias(n)));
  l.push_back(norm(out, n));
  l.push_back({LayerKind::kRelu});
}

// log2 of a valid space_to_depth factor: the stride-2 downsamplings it replaces.
int64_t folded_halvings(const GeneratorOptions& o) {
  int64_t s = 0;
  while ((int64_t{1} << s) < o.space_to_depth) ++s;
  return s;
}

Layers resnet_layers(const GeneratorOptions& o) {
  const Norm n = o.norm;
  const bool bias = norm_uses_bias(n);
  const int64_t r = o.space_to_depth, folded = folded_halvings(o);
  // The official 7x7 at full resolution sees 7 pixels across; after a fold of r a 3x3 sees 3r.
  const int64_t edge_kernel = r > 1 ? 3 : 7;
  Layers l;
  if (r > 1) l.push_back({LayerKind::kSpaceToDepth, o.input_nc, o.input_nc * r * r, 0, r});
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, edge_kernel / 2});
  // Each resolution keeps the official layout's width there: ngf << halvings.
  conv_norm_relu(l, o.input_nc * r * r, o.ngf << folded, edge_kernel, 1, 0, n);
  for (int64_t i = folded; i < kDownsamplings; ++i) {
    const int64_t ch = o.ngf << i;
    conv_norm_relu(l, ch, ch * 2, 3, o.antialias_down ? 1 : 2, 1, n);
    if (o.antialias_down) l.push_back({LayerKind::kBlurDown, ch * 2, ch * 2, 3, 2});
  }
  const int64_t deepest = o.ngf << kDownsamplings;
  Layer block{o.mobile ? LayerKind::kMobileResidual : LayerKind::kResidual, deepest, deepest};
  block.norm = n;
  for (int64_t i = 0; i < o.n_blocks; ++i) l.push_back(block);
  for (int64_t i = kDownsamplings; i > folded; --i) {
    const int64_t ch = o.ngf << i;
    if (o.antialias_up || o.upsample_conv) {
      if (o.antialias_up)
        l.push_back({LayerKind::kBlurUp, ch, ch, 4, 2});
      else
        l.push_back({LayerKind::kNearestUp, ch, ch, 0, 2});
      l.push_back(conv(ch, ch / 2, 3, 1, 1, bias));
    } else {
      l.push_back(up_conv(ch, ch / 2, 3, bias));
    }
    l.push_back(norm(ch / 2, n));
    l.push_back({LayerKind::kRelu});
  }
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, edge_kernel / 2});
  l.push_back({LayerKind::kConv, o.ngf << folded, o.output_nc * r * r, edge_kernel, 1, 0});
  if (r > 1) l.push_back({LayerKind::kDepthToSpace, o.output_nc * r * r, o.output_nc, 0, r});
  l.push_back({LayerKind::kTanh});
  return l;
}

// One UnetSkipConnectionBlock's layers, from level `level` (1 = outermost) down to the innermost
// at level `downs`. Its down conv takes `input` channels to `inner`, its up conv returns `outer`.
Layers unet_block(const GeneratorOptions& o, int64_t level, int64_t outer, int64_t inner, int64_t input) {
  const Norm n = o.norm;
  const bool bias = norm_uses_bias(n);
  const bool outermost = level == 1, innermost = level == o.unet_downs;
  Layers l;
  if (!outermost) l.push_back({LayerKind::kLeakyRelu});
  l.push_back(conv(input, inner, 4, 2, 1, bias));
  if (!outermost && !innermost) l.push_back(norm(inner, n));
  int64_t up_in = inner;
  if (!innermost) {
    // Inner widths as UnetGenerator builds them: ngf, 2 ngf, 4 ngf, then 8 ngf to the bottom.
    const int64_t next = o.ngf << std::min<int64_t>(level, 3);
    Layer skip{LayerKind::kSkip, inner, inner + inner};
    skip.inner = std::make_shared<const Layers>(unet_block(o, level + 1, inner, next, inner));
    l.push_back(skip);
    up_in = inner * 2;
  }
  l.push_back({LayerKind::kRelu});
  l.push_back(up_conv(up_in, outer, 4, outermost || bias));
  if (outermost) {
    l.push_back({LayerKind::kTanh});
    return l;
  }
  l.push_back(norm(outer, n));
  // The official block adds its dropout only between the innermost and the fourth level.
  if (o.use_dropout && !innermost && level > 4) l.push_back({LayerKind::kDropout});
  return l;
}

}  // namespace

Layers generator_layers(const GeneratorOptions& o) {
  if (o.family == Family::kUnet) return unet_block(o, 1, o.output_nc, o.ngf, o.input_nc);
  return resnet_layers(o);
}

Layers residual_layers(int64_t dim, bool use_dropout, Norm n) {
  Layers l;
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
  conv_norm_relu(l, dim, dim, 3, 1, 0, n);
  if (use_dropout) l.push_back({LayerKind::kDropout});
  l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
  l.push_back(conv(dim, dim, 3, 1, 0, norm_uses_bias(n)));
  l.push_back(norm(dim, n));
  return l;
}

Layers mobile_residual_layers(int64_t dim, bool use_dropout, Norm n) {
  const bool bias = norm_uses_bias(n);
  Layers l;
  for (int half = 0; half < 2; ++half) {
    if (half == 1 && use_dropout) l.push_back({LayerKind::kDropout});
    l.push_back({LayerKind::kReflectPad, 0, 0, 0, 1, 1});
    Layer depthwise = conv(dim, dim, 3, 1, 0, bias);
    depthwise.groups = dim;
    l.push_back(depthwise);
    l.push_back(norm(dim, n));
    l.push_back(conv(dim, dim, 1, 1, 0, bias));
    l.push_back(norm(dim, n));
    if (half == 0) l.push_back({LayerKind::kRelu});
  }
  return l;
}

Layers block_layers(const Layer& block, bool use_dropout) {
  if (block.kind == LayerKind::kSkip) return *block.inner;
  return block.kind == LayerKind::kMobileResidual ? mobile_residual_layers(block.out, use_dropout, block.norm)
                                                  : residual_layers(block.out, use_dropout, block.norm);
}

bool valid_space_to_depth(int64_t factor) { return factor == 1 || factor == 2 || factor == 4; }

std::string architecture_name(const GeneratorOptions& o) {
  if (o.family == Family::kUnet) return "unet_" + std::to_string(size_multiple(o));
  const std::string fold = o.space_to_depth == 1 ? "" : "s2d" + std::to_string(o.space_to_depth) + "_";
  return fold + (o.mobile ? "mobile_" : "") + "resnet_" + std::to_string(o.n_blocks) + "blocks";
}

int64_t size_multiple(const GeneratorOptions& o) {
  if (o.family == Family::kUnet) return int64_t{1} << o.unet_downs;
  return o.space_to_depth << (kDownsamplings - folded_halvings(o));
}

int64_t min_size(const GeneratorOptions& o) {
  return o.family == Family::kUnet ? size_multiple(o) : 2 * size_multiple(o);
}

SizeRule size_rule(const GeneratorOptions& o) { return {size_multiple(o), min_size(o)}; }

int64_t SizeRule::padded(int64_t side) const {
  const int64_t v = std::max(side, min);
  return (v + multiple - 1) / multiple * multiple;
}

std::string SizeRule::describe() const {
  return "multiples of " + std::to_string(multiple) + ", at least " + std::to_string(min);
}

namespace {

// Follows one image's shape through `layers`, calling visit(layer, c, h, w) with the shape each
// layer receives; returns the final shape. Blocks are visited inside as well as as a whole.
struct Shape {
  int64_t c, h, w;
};

// The side a convolution (or CUT's strided blur, kernel 3 padding 1) makes of `side`.
int64_t conv_side(int64_t side, int64_t kernel, int64_t stride, int64_t padding) {
  return (side + 2 * padding - kernel) / stride + 1;
}

// Every layer kind is named, without a default, so that a new LayerKind does not compile until
// its shape is known here (and so its cost and size rule below).
template <typename Visit>
Shape walk_shapes(const Layers& layers, Shape s, Visit&& visit) {
  for (const Layer& l : layers) {
    visit(l, s);
    switch (l.kind) {
      case LayerKind::kReflectPad: s = {s.c, s.h + 2 * l.padding, s.w + 2 * l.padding}; break;
      case LayerKind::kConv:
        s = {l.out, conv_side(s.h, l.kernel, l.stride, l.padding), conv_side(s.w, l.kernel, l.stride, l.padding)};
        break;
      case LayerKind::kUpConv:
      case LayerKind::kBlurUp:
      case LayerKind::kNearestUp: s = {l.out, s.h * l.stride, s.w * l.stride}; break;
      case LayerKind::kBlurDown: s = {s.c, conv_side(s.h, 3, 2, 1), conv_side(s.w, 3, 2, 1)}; break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual: walk_shapes(block_layers(l, false), s, visit); break;
      case LayerKind::kSkip: s.c += walk_shapes(*l.inner, s, visit).c; break;
      case LayerKind::kSpaceToDepth: s = {l.out, s.h / l.stride, s.w / l.stride}; break;
      case LayerKind::kDepthToSpace: s = {l.out, s.h * l.stride, s.w * l.stride}; break;
      case LayerKind::kNorm:
      case LayerKind::kRelu:
      case LayerKind::kLeakyRelu:
      case LayerKind::kDropout:
      case LayerKind::kTanh: break;  // shape-preserving
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
    switch (l.kind) {
      case LayerKind::kConv:
        macs += l.out * (l.in / l.groups) * l.kernel * l.kernel * conv_side(s.h, l.kernel, l.stride, l.padding) *
                conv_side(s.w, l.kernel, l.stride, l.padding);
        break;
      case LayerKind::kUpConv: macs += l.in * l.out * l.kernel * l.kernel * s.h * s.w; break;
      case LayerKind::kBlurDown:
        macs += l.out * l.kernel * l.kernel * conv_side(s.h, 3, 2, 1) * conv_side(s.w, 3, 2, 1);
        break;
      case LayerKind::kBlurUp: macs += l.out * l.kernel * l.kernel * (s.h + 2) * (s.w + 2); break;
      // Blocks are counted layer by layer inside (walk_shapes visits them); the rest have no
      // multiply-adds worth counting.
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual:
      case LayerKind::kSkip:
      case LayerKind::kReflectPad:
      case LayerKind::kNorm:
      case LayerKind::kRelu:
      case LayerKind::kLeakyRelu:
      case LayerKind::kDropout:
      case LayerKind::kNearestUp:
      case LayerKind::kSpaceToDepth:
      case LayerKind::kDepthToSpace:
      case LayerKind::kTanh: break;
    }
  });
  return macs;
}

int64_t macs_per_frame(const GeneratorOptions& o) {
  return count_macs(generator_layers(o), o.input_nc, kCostFrameSide, kCostFrameSide);
}

namespace {

void add_specs(const Layers& layers, bool use_dropout, const std::string& prefix, std::vector<TensorSpec>& out) {
  for (size_t i = 0; i < layers.size(); ++i) {
    const Layer& l = layers[i];
    const std::string at = prefix + "." + std::to_string(i) + ".";
    const auto add = [&](const char* name, std::vector<int64_t> shape) {
      out.push_back({at + name, std::move(shape)});
    };
    switch (l.kind) {
      case LayerKind::kConv:
        add("weight", {l.out, l.in / l.groups, l.kernel, l.kernel});
        if (l.bias) add("bias", {l.out});
        break;
      case LayerKind::kUpConv:
        add("weight", {l.in, l.out, l.kernel, l.kernel});
        if (l.bias) add("bias", {l.out});
        break;
      case LayerKind::kNorm:
        if (l.norm == Norm::kInstanceAffine || l.norm == Norm::kBatch) {
          add("weight", {l.out});
          add("bias", {l.out});
        }
        if (l.norm == Norm::kBatch) {
          add("running_mean", {l.out});
          add("running_var", {l.out});
        }
        break;
      case LayerKind::kResidual:
      case LayerKind::kMobileResidual:
        add_specs(block_layers(l, use_dropout), use_dropout, at + "conv_block", out);
        break;
      case LayerKind::kSkip: add_specs(*l.inner, use_dropout, at + "model", out); break;
      case LayerKind::kBlurDown:
      case LayerKind::kBlurUp: add("filt", {l.out, 1, l.kernel, l.kernel}); break;
      case LayerKind::kReflectPad:
      case LayerKind::kRelu:
      case LayerKind::kLeakyRelu:
      case LayerKind::kDropout:
      case LayerKind::kNearestUp:
      case LayerKind::kSpaceToDepth:
      case LayerKind::kDepthToSpace:
      case LayerKind::kTanh: break;  // no tensors
    }
  }
}

}  // namespace

std::vector<TensorSpec> state_dict_layout(const GeneratorOptions& o) {
  std::vector<TensorSpec> specs;
  add_specs(generator_layers(o), o.use_dropout, state_dict_prefix(o), specs);
  return specs;
}

std::string state_dict_prefix(const GeneratorOptions& o) { return o.family == Family::kUnet ? "model.model" : "model"; }

int64_t output_padding(const Layer& l) { return l.stride + 2 * l.padding - l.kernel; }

std::vector<int64_t> positions_of(const Layers& layers, LayerKind kind) {
  std::vector<int64_t> at;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].kind == kind) at.push_back(static_cast<int64_t>(i));
  return at;
}

}  // namespace cg
