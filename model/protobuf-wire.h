// The protocol buffers wire format, by hand, for the handful of ONNX messages onnx-export.cpp
// writes and `info` reads back: a message is a sequence of fields, each a varint key
// (field number << 3 | wire type) then a varint, 4 or 8 little-endian bytes, or a varint length
// and that many bytes (strings, bytes, nested messages, packed repeated scalars).
//
// Why not Debian's libonnx-dev and libprotobuf-dev: the LibTorch we link (the torch wheel's
// libtorch_cpu.so) already carries its own protobuf and ONNX classes and exports google::protobuf
// symbols, so a second protobuf runtime of another version in the same process invites clashes
// that show up only at run time; and generated classes would bring protoc, a build step and two
// packages to a fresh machine for what is a few dozen lines of tags, varints and lengths. The
// field numbers used are those of the public onnx.proto, named where they are used.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace cg {

// The wire types this writer and reader know: every one proto3 and proto2 still use.
enum class WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

class ProtoWriter {
 public:
  // int32, int64, enum and bool fields; a negative value takes ten bytes, as protobuf writes it.
  void varint(int field, int64_t value);
  void fixed32(int field, float value);
  // string and bytes fields, and a nested message's bytes.
  void bytes(int field, std::string_view value);
  void message(int field, const ProtoWriter& m) { bytes(field, m.data()); }
  // The fields of `m` as fields of this message (a message's serialisation is the concatenation
  // of its fields, in any order).
  void append(const ProtoWriter& m) { out_ += m.out_; }

  const std::string& data() const { return out_; }

 private:
  void key(int field, WireType type);
  void raw_varint(uint64_t v);
  std::string out_;
};

struct ProtoField {
  int number = 0;
  WireType type = WireType::kVarint;
  uint64_t value = 0;      // kVarint, kFixed64, kFixed32
  std::string_view bytes;  // kLengthDelimited: a view into the reader's data
};

// Reads the fields of one message, bounded by its bytes: a truncated or malformed message (a
// varint over ten bytes, a length past the end, an unknown wire type, field number 0) throws
// Error(kModel) naming `name` and where.
class ProtoReader {
 public:
  ProtoReader(std::string_view data, std::string name) : data_(data), name_(std::move(name)) {}
  // The next field, or false at the end of the message.
  bool next(ProtoField& field);

 private:
  uint64_t read_varint();
  [[noreturn]] void bad(const std::string& why) const;
  std::string_view data_;
  size_t at_ = 0;
  std::string name_;
};

}  // namespace cg
