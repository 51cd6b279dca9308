#include "model/onnx-export.h"

#include "common/atomic-file.h"
#include "common/error.h"
#include "model/protobuf-wire.h"

#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <vector>

namespace cg {

namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "TensorProto.raw_data is little-endian, and tensors are copied into it as they lie in memory");

// Field numbers of the public onnx.proto, message by message.
namespace field {
// ModelProto
constexpr int kIrVersion = 1, kProducerName = 2, kModelDoc = 6, kGraph = 7, kOpsetImport = 8, kMetadataProps = 14;
// OperatorSetIdProto
constexpr int kOpsetDomain = 1, kOpsetVersion = 2;
// StringStringEntryProto
constexpr int kKey = 1, kValue = 2;
// GraphProto
constexpr int kNode = 1, kGraphName = 2, kInitializer = 5, kGraphInput = 11, kGraphOutput = 12;
// NodeProto
constexpr int kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kOpType = 4, kAttribute = 5;
// AttributeProto
constexpr int kAttrName = 1, kAttrFloat = 2, kAttrInt = 3, kAttrString = 4, kAttrInts = 8, kAttrType = 20;
// TensorProto
constexpr int kDims = 1, kDataType = 2, kTensorName = 8, kRawData = 9;
// ValueInfoProto
constexpr int kValueName = 1, kValueType = 2, kValueDoc = 3;
// TypeProto, TypeProto.Tensor, TensorShapeProto, TensorShapeProto.Dimension
constexpr int kTensorType = 1, kElemType = 1, kShape = 2, kDim = 1, kDimValue = 1, kDimParam = 2;
}  // namespace field

// AttributeProto.AttributeType and TensorProto.DataType.
enum class AttrType : int64_t { kFloat = 1, kInt = 2, kString = 3, kInts = 7 };
enum class DataType : int64_t { kFloat = 1, kInt64 = 7 };

// PyTorch's default, which the official norms use.
constexpr float kNormEpsilon = 1e-5f;

ProtoWriter attribute(const std::string& name, AttrType type) {
  ProtoWriter a;
  a.bytes(field::kAttrName, name);
  a.varint(field::kAttrType, static_cast<int64_t>(type));
  return a;
}

ProtoWriter int_attr(const std::string& name, int64_t v) {
  auto a = attribute(name, AttrType::kInt);
  a.varint(field::kAttrInt, v);
  return a;
}

ProtoWriter ints_attr(const std::string& name, const std::vector<int64_t>& v) {
  auto a = attribute(name, AttrType::kInts);
  for (int64_t x : v) a.varint(field::kAttrInts, x);
  return a;
}

ProtoWriter float_attr(const std::string& name, float v) {
  auto a = attribute(name, AttrType::kFloat);
  a.fixed32(field::kAttrFloat, v);
  return a;
}

ProtoWriter string_attr(const std::string& name, const std::string& v) {
  auto a = attribute(name, AttrType::kString);
  a.bytes(field::kAttrString, v);
  return a;
}

std::vector<ProtoWriter> conv_attrs(int64_t kernel, int64_t stride, int64_t padding, int64_t groups) {
  std::vector<ProtoWriter> a;
  a.push_back(ints_attr("kernel_shape", {kernel, kernel}));
  a.push_back(ints_attr("strides", {stride, stride}));
  a.push_back(ints_attr("pads", {padding, padding, padding, padding}));
  a.push_back(int_attr("group", groups));
  return a;
}

// An N x C x H x W float tensor with N, H and W symbolic: what every size the size rule allows,
// at any batch, passes through.
ProtoWriter image_value(const std::string& name, int64_t channels, const std::string& doc) {
  ProtoWriter shape;
  for (const auto& d : {std::string("N"), std::string(), std::string("H"), std::string("W")}) {
    ProtoWriter dim;
    if (d.empty())
      dim.varint(field::kDimValue, channels);
    else
      dim.bytes(field::kDimParam, d);
    shape.message(field::kDim, dim);
  }
  ProtoWriter tensor;
  tensor.varint(field::kElemType, static_cast<int64_t>(DataType::kFloat));
  tensor.message(field::kShape, shape);
  ProtoWriter type;
  type.message(field::kTensorType, tensor);
  ProtoWriter v;
  v.bytes(field::kValueName, name);
  v.message(field::kValueType, type);
  v.bytes(field::kValueDoc, doc);
  return v;
}

struct Node {
  std::string op;
  std::vector<std::string> inputs;
  std::string output;
  std::vector<ProtoWriter> attributes;
};

// Walks the layers as generator-script.cpp does for the G.pt, one or a few nodes per layer. Each
// value is named after the state_dict key of the layer that makes it ("model.10" for a residual
// block's sum, "model.10.conv_block.1" inside it), each weight after its own key.
class GraphWriter {
 public:
  GraphWriter(const GeneratorImpl& g, bool batch_stats)
      : tensors_(state_tensors(g)), use_dropout_(g.options().use_dropout), batch_stats_(batch_stats) {}

  // The nodes of `layers` (keys under `prefix`) applied to value `v`; returns the last value.
  std::string walk(const Layers& layers, const std::string& prefix, std::string v) {
    for (size_t i = 0; i < layers.size(); ++i) {
      const Layer& l = layers[i];
      const std::string at = prefix + "." + std::to_string(i);
      // Every kind is named, without a default: a new LayerKind does not compile until it is
      // exported.
      switch (l.kind) {
        case LayerKind::kReflectPad: v = pad(v, l.padding, "reflect", at); break;
        case LayerKind::kConv:
          v = add("Conv", with_bias({v, weight(at + ".weight")}, l.bias, at), at,
                  conv_attrs(l.kernel, l.stride, l.padding, l.groups));
          break;
        case LayerKind::kNorm: v = norm(l, v, at); break;
        case LayerKind::kRelu: v = add("Relu", {v}, at); break;
        case LayerKind::kLeakyRelu: {
          std::vector<ProtoWriter> a;
          a.push_back(float_attr("alpha", 0.2f));
          v = add("LeakyRelu", {v}, at, std::move(a));
          break;
        }
        case LayerKind::kDropout: break;  // inference: the identity
        case LayerKind::kResidual:
        case LayerKind::kMobileResidual: {
          const std::string residual = walk(block_layers(l, use_dropout_), at + ".conv_block", v);
          v = add("Add", {v, residual}, at);
          break;
        }
        case LayerKind::kSkip: {
          const std::string inner = walk(*l.inner, at + ".model", v);
          std::vector<ProtoWriter> a;
          a.push_back(int_attr("axis", 1));
          v = add("Concat", {v, inner}, at, std::move(a));
          break;
        }
        case LayerKind::kUpConv: {
          auto a = conv_attrs(l.kernel, l.stride, l.padding, 1);
          a.push_back(ints_attr("output_padding", {output_padding(l), output_padding(l)}));
          v = add("ConvTranspose", with_bias({v, weight(at + ".weight")}, l.bias, at), at, std::move(a));
          break;
        }
        case LayerKind::kTanh: v = add("Tanh", {v}, at); break;
        case LayerKind::kBlurDown:
          // blur_down() of networks.cpp: reflect pad 1, the fixed filter per channel, stride 2.
          v = add("Conv", {pad(v, 1, "reflect", at + ".pad"), weight(at + ".filt")}, at,
                  conv_attrs(l.kernel, l.stride, 0, l.out));
          break;
        case LayerKind::kBlurUp: {
          // blur_up(): replicate pad 1, the transposed filter with padding 2 (2H + 2 rows), then
          // the first and last row and column dropped.
          const std::string blurred = add("ConvTranspose", {pad(v, 1, "edge", at + ".pad"), weight(at + ".filt")},
                                          at + ".blur", conv_attrs(l.kernel, l.stride, 2, l.out));
          v = add("Slice",
                  {blurred, int64_constant("crop_starts", {1, 1}), int64_constant("crop_ends", {-1, -1}),
                   int64_constant("crop_axes", {2, 3})},
                  at);
          break;
        }
        case LayerKind::kNearestUp: {
          // PyTorch's nearest upsampling takes source pixel floor(x / scale).
          std::vector<ProtoWriter> a;
          a.push_back(string_attr("mode", "nearest"));
          a.push_back(string_attr("coordinate_transformation_mode", "asymmetric"));
          a.push_back(string_attr("nearest_mode", "floor"));
          v = add(
              "Resize",
              {v, "", float_constant("scales_" + std::to_string(l.stride), {1, 1, 1.0f * l.stride, 1.0f * l.stride})},
              at, std::move(a));
          break;
        }
        case LayerKind::kSpaceToDepth: {
          // ONNX's SpaceToDepth puts pixel (i, j) of a cell of channel c at channel
          // (i * r + j) * C + c, pixel_unshuffle at c * r^2 + i * r + j: a Gather of the channels
          // reorders the one into the other, exactly.
          const int64_t r = l.stride, c = l.in;
          std::vector<int64_t> order;
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t cell = 0; cell < r * r; ++cell) order.push_back(cell * c + ch);
          std::vector<ProtoWriter> a;
          a.push_back(int_attr("blocksize", r));
          const std::string cells = add("SpaceToDepth", {v}, at + ".cells", std::move(a));
          std::vector<ProtoWriter> g;
          g.push_back(int_attr("axis", 1));
          v = add(
              "Gather",
              {cells, int64_constant("pixel_unshuffle_order_" + std::to_string(c) + "x" + std::to_string(r), order)},
              at, std::move(g));
          break;
        }
        case LayerKind::kDepthToSpace: {
          // Mode CRD reads channel c * r^2 + i * r + j as pixel_shuffle does.
          std::vector<ProtoWriter> a;
          a.push_back(int_attr("blocksize", l.stride));
          a.push_back(string_attr("mode", "CRD"));
          v = add("DepthToSpace", {v}, at, std::move(a));
          break;
        }
      }
    }
    return v;
  }

  // The graph's nodes and initializers, the last node's output renamed to `output`.
  ProtoWriter graph(const std::string& last, const std::string& output) {
    if (nodes_.empty() || nodes_.back().output != last)
      throw Error(ErrorKind::kModel, "internal: the generator's last value is not its last node's");
    nodes_.back().output = output;
    ProtoWriter g;
    for (const Node& n : nodes_) {
      ProtoWriter p;
      for (const auto& in : n.inputs) p.bytes(field::kNodeInput, in);
      p.bytes(field::kNodeOutput, n.output);
      p.bytes(field::kNodeName, n.output);
      p.bytes(field::kOpType, n.op);
      for (const auto& a : n.attributes) p.message(field::kAttribute, a);
      g.message(field::kNode, p);
    }
    g.append(initializers_);
    return g;
  }

 private:
  std::string add(const std::string& op, std::vector<std::string> inputs, const std::string& output,
                  std::vector<ProtoWriter> attributes = {}) {
    nodes_.push_back({op, std::move(inputs), output, std::move(attributes)});
    return output;
  }

  std::vector<std::string> with_bias(std::vector<std::string> inputs, bool bias, const std::string& at) {
    if (bias) inputs.push_back(weight(at + ".bias"));
    return inputs;
  }

  std::string pad(const std::string& v, int64_t p, const std::string& mode, const std::string& output) {
    std::vector<ProtoWriter> a;
    a.push_back(string_attr("mode", mode));
    // Begins then ends of N, C, H, W.
    return add("Pad", {v, int64_constant("pads_" + std::to_string(p), {0, 0, p, p, 0, 0, p, p})}, output, std::move(a));
  }

  std::string norm(const Layer& l, const std::string& v, const std::string& at) {
    std::vector<ProtoWriter> a;
    a.push_back(float_attr("epsilon", kNormEpsilon));
    const auto instance = [&](const std::string& scale, const std::string& bias) {
      return add("InstanceNormalization", {v, scale, bias}, at, std::move(a));
    };
    switch (l.norm) {
      case Norm::kInstance:
        return instance(float_constant("ones_" + std::to_string(l.out), std::vector<float>(l.out, 1.0f)),
                        float_constant("zeros_" + std::to_string(l.out), std::vector<float>(l.out, 0.0f)));
      case Norm::kInstanceAffine: return instance(weight(at + ".weight"), weight(at + ".bias"));
      case Norm::kBatch:
        // Each frame's own statistics are an instance norm with the batch norm's affine
        // parameters, as the G.pt computes them.
        if (batch_stats_) return instance(weight(at + ".weight"), weight(at + ".bias"));
        return add("BatchNormalization",
                   {v, weight(at + ".weight"), weight(at + ".bias"), weight(at + ".running_mean"),
                    weight(at + ".running_var")},
                   at, std::move(a));
      case Norm::kNone: break;
    }
    return v;
  }

  // The generator's tensor `key` as an initializer of the same name.
  std::string weight(const std::string& key) {
    const at::Tensor* t = tensors_.find(key);
    if (t == nullptr) throw Error(ErrorKind::kModel, "internal: the generator has no tensor '" + key + "'");
    if (emitted_.insert(key).second) {
      const auto v = t->detach().to(torch::kCPU, torch::kFloat).contiguous();
      initializer(key, v.sizes().vec(), DataType::kFloat, {static_cast<const char*>(v.data_ptr()), v.nbytes()});
    }
    return key;
  }

  std::string float_constant(const std::string& name, const std::vector<float>& v) {
    if (emitted_.insert(name).second)
      initializer(name, {static_cast<int64_t>(v.size())}, DataType::kFloat,
                  {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)});
    return name;
  }

  std::string int64_constant(const std::string& name, const std::vector<int64_t>& v) {
    if (emitted_.insert(name).second)
      initializer(name, {static_cast<int64_t>(v.size())}, DataType::kInt64,
                  {reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t)});
    return name;
  }

  void initializer(const std::string& name, const std::vector<int64_t>& dims, DataType type, std::string_view raw) {
    ProtoWriter t;
    for (int64_t d : dims) t.varint(field::kDims, d);
    t.varint(field::kDataType, static_cast<int64_t>(type));
    t.bytes(field::kTensorName, name);
    t.bytes(field::kRawData, raw);
    initializers_.message(field::kInitializer, t);
  }

  torch::OrderedDict<std::string, at::Tensor> tensors_;
  bool use_dropout_;
  bool batch_stats_;
  std::vector<Node> nodes_;
  ProtoWriter initializers_;
  std::set<std::string> emitted_;
};

}  // namespace

std::string onnx_model_bytes(const GeneratorImpl& generator, const ModelMetadata& metadata) {
  torch::NoGradGuard no_grad;
  const GeneratorOptions& o = generator.options();
  const std::string arch = architecture_name(o);
  const std::string range = "RGB in [-1, 1] (8-bit value / 127.5 - 1)";
  const std::string sizes = "H and W " + size_rule(o).describe();

  GraphWriter writer(generator, metadata.batch_stats);
  ProtoWriter graph = writer.graph(writer.walk(generator.layers(), generator.body_key(), "input"), "output");
  graph.bytes(field::kGraphName, arch);
  graph.message(field::kGraphInput,
                image_value("input", o.input_nc,
                            "float32 N x " + std::to_string(o.input_nc) + " x H x W, " + range + ", " + sizes));
  graph.message(field::kGraphOutput,
                image_value("output", o.output_nc, "the input's shape, " + range + "; to 8 bits: (y + 1) * 127.5"));

  ProtoWriter opset;
  opset.bytes(field::kOpsetDomain, "");
  opset.varint(field::kOpsetVersion, kOnnxOpset);
  ProtoWriter entry;
  entry.bytes(field::kKey, kOnnxMetadataKey);
  entry.bytes(field::kValue, metadata.to_json());

  ProtoWriter model;
  model.varint(field::kIrVersion, kOnnxIrVersion);
  model.message(field::kOpsetImport, opset);
  model.bytes(field::kProducerName, "cyclegan-gst");
  model.bytes(field::kModelDoc, "cyclegan-gst " + arch + " generator (" + metadata.direction +
                                    "). Input \"input\": float32 N x " + std::to_string(o.input_nc) + " x H x W, " +
                                    range + ", " + sizes + ". Output \"output\": the same shape, " + range +
                                    ". Our metadata JSON is metadata_props[\"" + kOnnxMetadataKey + "\"].");
  model.message(field::kGraph, graph);
  model.message(field::kMetadataProps, entry);
  // Protobuf's parsers refuse messages of 2 GiB and more; bigger models would need ONNX's external
  // data files.
  if (model.data().size() >= static_cast<size_t>(std::numeric_limits<int32_t>::max()))
    throw Error(ErrorKind::kModel, arch + " with ngf " + std::to_string(o.ngf) +
                                       " is too large for one ONNX file (protobuf's limit is 2 GiB)");
  return model.data();
}

void save_generator_onnx(const GeneratorImpl& generator, const ModelMetadata& metadata, const std::string& path) {
  std::string bytes;
  try {
    bytes = onnx_model_bytes(generator, metadata);
  } catch (const Error& e) {
    throw Error(e.kind(), path + ": " + e.what());
  }
  write_file_atomically(path, bytes);
}

bool is_onnx_file(const std::string& path) { return std::filesystem::path(path).extension() == ".onnx"; }

OnnxSummary read_onnx_summary(const std::string& path) {
  const auto bad = [&](const std::string& why) { return Error(ErrorKind::kModel, path + ": " + why); };
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) throw bad("cannot read (" + ec.message() + ")");
  if (size >= static_cast<uint64_t>(std::numeric_limits<int32_t>::max()))
    throw bad("larger than protobuf's 2 GiB limit, so not one ONNX model");
  std::string data(size, '\0');
  std::ifstream f(path, std::ios::binary);
  if (!f.read(data.data(), static_cast<std::streamsize>(size))) throw bad("cannot read");

  const auto expect = [&](const ProtoField& fl, WireType type, const char* what) {
    if (fl.type != type) throw bad(std::string("not an ONNX model (") + what + " has the wrong wire type)");
  };
  OnnxSummary s;
  bool has_graph = false;
  ProtoReader model(data, path);
  for (ProtoField fl; model.next(fl);) {
    switch (fl.number) {
      case field::kIrVersion:
        expect(fl, WireType::kVarint, "ir_version");
        s.ir_version = static_cast<int64_t>(fl.value);
        break;
      case field::kProducerName:
        expect(fl, WireType::kLengthDelimited, "producer_name");
        s.producer = fl.bytes;
        break;
      case field::kOpsetImport: {
        expect(fl, WireType::kLengthDelimited, "opset_import");
        std::string domain;
        int64_t version = 0;
        ProtoReader r(fl.bytes, path);
        for (ProtoField o; r.next(o);) {
          if (o.number == field::kOpsetDomain && o.type == WireType::kLengthDelimited) domain = o.bytes;
          if (o.number == field::kOpsetVersion && o.type == WireType::kVarint) version = static_cast<int64_t>(o.value);
        }
        if (domain.empty() || domain == "ai.onnx") s.opset = version;
        break;
      }
      case field::kGraph: {
        expect(fl, WireType::kLengthDelimited, "graph");
        has_graph = true;
        ProtoReader r(fl.bytes, path);
        for (ProtoField g; r.next(g);) {
          s.nodes += g.number == field::kNode;
          s.initializers += g.number == field::kInitializer;
        }
        break;
      }
      case field::kMetadataProps: {
        expect(fl, WireType::kLengthDelimited, "metadata_props");
        std::string key, value;
        ProtoReader r(fl.bytes, path);
        for (ProtoField e; r.next(e);) {
          if (e.type != WireType::kLengthDelimited) continue;
          if (e.number == field::kKey) key = e.bytes;
          if (e.number == field::kValue) value = e.bytes;
        }
        s.metadata[key] = value;
        break;
      }
      default: break;  // fields `info` does not show
    }
  }
  if (!has_graph) throw bad("not an ONNX model (no graph)");
  return s;
}

}  // namespace cg
