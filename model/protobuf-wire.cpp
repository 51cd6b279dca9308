#include "model/protobuf-wire.h"

#include "common/error.h"

#include <cstring>

namespace cg {

void ProtoWriter::raw_varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void ProtoWriter::key(int field, WireType type) {
  raw_varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(type));
}

void ProtoWriter::varint(int field, int64_t value) {
  key(field, WireType::kVarint);
  raw_varint(static_cast<uint64_t>(value));
}

void ProtoWriter::fixed32(int field, float value) {
  static_assert(sizeof(float) == 4);
  key(field, WireType::kFixed32);
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(bits >> (8 * i)));
}

void ProtoWriter::bytes(int field, std::string_view value) {
  key(field, WireType::kLengthDelimited);
  raw_varint(value.size());
  out_.append(value);
}

void ProtoReader::bad(const std::string& why) const {
  throw Error(ErrorKind::kModel,
              name_ + ": not a valid protocol buffer (" + why + " at byte " + std::to_string(at_) + ")");
}

uint64_t ProtoReader::read_varint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (at_ >= data_.size()) bad("truncated varint");
    const auto byte = static_cast<uint8_t>(data_[at_++]);
    v |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  bad("varint longer than ten bytes");
}

bool ProtoReader::next(ProtoField& field) {
  if (at_ >= data_.size()) return false;
  const uint64_t key = read_varint();
  field.number = static_cast<int>(key >> 3);
  if (key >> 3 == 0 || key >> 3 > (uint64_t{1} << 29) - 1) bad("field number " + std::to_string(key >> 3));
  const auto take = [&](size_t n) {
    if (n > data_.size() - at_) bad("field " + std::to_string(field.number) + " runs past the end");
    const std::string_view v = data_.substr(at_, n);
    at_ += n;
    return v;
  };
  const auto little_endian = [](std::string_view b) {
    uint64_t v = 0;
    for (size_t i = 0; i < b.size(); ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[i])) << (8 * i);
    return v;
  };
  switch (key & 7) {
    case 0:
      field.type = WireType::kVarint;
      field.value = read_varint();
      break;
    case 1:
      field.type = WireType::kFixed64;
      field.value = little_endian(take(8));
      break;
    case 2:
      field.type = WireType::kLengthDelimited;
      field.bytes = take(read_varint());
      break;
    case 5:
      field.type = WireType::kFixed32;
      field.value = little_endian(take(4));
      break;
    default: bad("wire type " + std::to_string(key & 7));
  }
  return true;
}

}  // namespace cg
