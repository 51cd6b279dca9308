// The protobuf wire format writer and bounded reader, and what `info` reads back of a G.onnx. ONNX
// itself (onnx.checker, ONNX Runtime against the G.pt) checks the models in
// tests/python/test_onnx.py.
#include "model/onnx-export.h"
#include "model/protobuf-wire.h"
#include "tests/test-helpers.h"

#include <gmock/gmock.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>
#include <tuple>
#include <utility>
#include <vector>

namespace cg {
namespace {

using test::error_of;
using ::testing::HasSubstr;

std::vector<ProtoField> fields_of(const std::string& bytes) {
  std::vector<ProtoField> out;
  ProtoReader r(bytes, "x.onnx");
  for (ProtoField f; r.next(f);) out.push_back(f);
  return out;
}

TEST(ProtobufWire, WritesTheEncodingTheFormatDescribes) {
  // The format description's own example: field 1 = 150 is 08 96 01.
  ProtoWriter w;
  w.varint(1, 150);
  EXPECT_EQ(w.data(), std::string("\x08\x96\x01", 3));
  // A negative int64 takes ten bytes (two's complement); a string is its length then its bytes.
  ProtoWriter n;
  n.varint(2, -1);
  EXPECT_EQ(n.data(), std::string("\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  ProtoWriter s;
  s.bytes(3, "abc");
  EXPECT_EQ(s.data(), std::string("\x1a\x03"
                                  "abc",
                                  5));
  ProtoWriter f;
  f.fixed32(4, 1.0f);
  EXPECT_EQ(f.data(), std::string("\x25\x00\x00\x80\x3f", 5));
}

TEST(ProtobufWire, ReadsBackWhatItWrites) {
  ProtoWriter inner;
  inner.bytes(1, "key");
  ProtoWriter w;
  w.varint(1, std::numeric_limits<int64_t>::max());
  w.varint(2, -7);
  w.fixed32(5, 0.5f);
  w.message(14, inner);
  w.varint(536870911, 1);  // the largest field number
  const auto f = fields_of(w.data());
  ASSERT_EQ(f.size(), 5u);
  EXPECT_EQ(f[0].number, 1);
  EXPECT_EQ(f[0].value, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(static_cast<int64_t>(f[1].value), -7);
  EXPECT_EQ(f[2].type, WireType::kFixed32);
  EXPECT_EQ(f[2].value, 0x3f000000u);
  EXPECT_EQ(f[3].type, WireType::kLengthDelimited);
  EXPECT_EQ(f[3].bytes, inner.data());
  EXPECT_EQ(f[4].number, 536870911);
}

TEST(ProtobufWire, RefusesMalformedMessages) {
  const std::pair<std::string, const char*> cases[] = {
      {std::string("\x08", 1), "truncated varint"},
      {std::string("\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 12), "longer than ten bytes"},
      {std::string("\x0a\x05"
                   "ab",
                   4),
       "runs past the end"},
      {std::string("\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10), "runs past the end"},
      {std::string("\x0d\x01\x02", 3), "runs past the end"},
      {std::string("\x0b", 1), "wire type 3"},
      {std::string("\x00\x01", 2), "field number 0"},
  };
  for (const auto& [bytes, why] : cases) {
    // A copy: C++17 lambdas cannot capture a structured binding (clang refuses it).
    const std::string message = bytes;
    const std::string e = error_of([&] { fields_of(message); });
    EXPECT_THAT(e, HasSubstr("x.onnx: not a valid protocol buffer (")) << why;
    EXPECT_THAT(e, HasSubstr(why));
  }
}

GeneratorOptions tiny_resnet(Norm norm, bool dropout) {
  GeneratorOptions o;
  o.ngf = 2;
  o.n_blocks = 1;
  o.norm = norm;
  o.use_dropout = dropout;
  return o;
}

TEST(OnnxExport, InfoReadsBackTheModelAndItsMetadata) {
  test::TempDir dir;
  // One node per layer, a residual block's sum one more; dropout and "none" norms have none.
  // resnet_1blocks: pad conv norm relu, 2 x (conv norm relu), the block (pad conv norm relu pad
  // conv norm, add), 2 x (transposed conv norm relu), pad conv tanh.
  const std::tuple<Norm, bool, int64_t> cases[] = {
      {Norm::kInstance, false, 27}, {Norm::kInstance, true, 27}, {Norm::kNone, false, 20}, {Norm::kBatch, true, 27}};
  for (const auto& [norm, dropout, nodes] : cases) {
    const GeneratorOptions o = tiny_resnet(norm, dropout);
    Generator g(o);
    g->eval();
    auto meta = ModelMetadata::for_generator(o);
    meta.direction = "BtoA";
    const std::string path = dir / (std::string(norm_name(norm)) + (dropout ? "-dropout" : "") + ".onnx");
    save_generator_onnx(*g, meta, path);
    const OnnxSummary s = read_onnx_summary(path);
    EXPECT_EQ(s.ir_version, kOnnxIrVersion);
    EXPECT_EQ(s.opset, kOnnxOpset);
    EXPECT_EQ(s.producer, "cyclegan-gst");
    EXPECT_EQ(s.nodes, nodes) << norm_name(norm) << (dropout ? " dropout" : "");
    ASSERT_EQ(s.metadata.count(kOnnxMetadataKey), 1u);
    EXPECT_EQ(s.metadata.at(kOnnxMetadataKey), meta.to_json());
    EXPECT_GE(s.initializers, static_cast<int64_t>(state_tensors(*g).size()));
  }
}

TEST(OnnxExport, EveryTruncationIsReadOrRefusedByName) {
  test::TempDir dir;
  const GeneratorOptions o = tiny_resnet(Norm::kInstance, false);
  Generator g(o);
  const std::string bytes = onnx_model_bytes(*g, ModelMetadata::for_generator(o));
  const std::string path = dir / "cut.onnx";
  int refused = 0;
  // Every 37th length and the last 64: cuts inside the graph and inside the metadata at the end.
  for (size_t n = 0; n < bytes.size(); n += (n + 64 < bytes.size() ? 37 : 1)) {
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(n));
    try {
      read_onnx_summary(path);  // a cut between two top-level fields is a shorter, valid message
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(path + ": ")) << n;
      ++refused;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_THAT(error_of([&] { read_onnx_summary(dir / "missing.onnx"); }), HasSubstr("missing.onnx: cannot read"));
}

}  // namespace
}  // namespace cg
