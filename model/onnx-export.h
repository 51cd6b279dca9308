// G.onnx: our generators as ONNX models, for ONNX Runtime, TensorRT and other runtimes that do not
// read TorchScript. The graph is written from the generator's layer list (generator_layers()),
// as the G.pt's TorchScript source is, with the weights under their official state_dict names.
//
// Contract, as the G.pt's: opset 17, float32; input "input" N x 3 x H x W RGB in [-1, 1] with N,
// H and W symbolic (H and W multiples of the metadata's size_multiple, at least its min_size);
// output "output" of the same shape, in [-1, 1]. Batch norm runs on its running statistics, or on
// each frame's own (an InstanceNormalization) when the metadata says batch_stats; dropout is left
// out. Our ModelMetadata JSON is the value of metadata_props["cyclegan_gst"].
#pragma once

#include "model/metadata.h"
#include "model/networks.h"

#include <cstdint>
#include <map>
#include <string>

namespace cg {

// The newest opset Debian's onnx 1.12 checks, so the files are valid for older tools as well as
// current ones; IR version 8 is the one that came with it.
constexpr int64_t kOnnxOpset = 17;
constexpr int64_t kOnnxIrVersion = 8;
// The metadata_props key whose value is our ModelMetadata JSON.
constexpr const char* kOnnxMetadataKey = "cyclegan_gst";

// The serialised ModelProto of `generator` (its options give the layers; `metadata` is recorded
// and decides batch_stats). Throws Error(kModel) when the weights would exceed protobuf's 2 GiB.
std::string onnx_model_bytes(const GeneratorImpl& generator, const ModelMetadata& metadata);
// Writes onnx_model_bytes() to `path`, atomically.
void save_generator_onnx(const GeneratorImpl& generator, const ModelMetadata& metadata, const std::string& path);

// By the name: *.onnx.
bool is_onnx_file(const std::string& path);

// What `info` shows of an ONNX model: its opset, graph and metadata_props.
struct OnnxSummary {
  int64_t ir_version = 0;
  int64_t opset = 0;  // of the default domain
  std::string producer;
  int64_t nodes = 0;
  int64_t initializers = 0;
  std::map<std::string, std::string> metadata;  // metadata_props
};

// Reads a .onnx file's top-level messages (not the weights' values). Throws Error(kModel) naming
// the file when it cannot be read, is not a protocol buffer or has no graph.
OnnxSummary read_onnx_summary(const std::string& path);

}  // namespace cg
