#include "model/pickle-ops.h"

namespace cg {

namespace {

enum class Arg { kNone, kU1, kU2, kU4, kU8, kBytes1, kBytes4, kBytes8, kRaw8, kLine, kTwoLines, kUnknown };

Arg arg_of(uint8_t code) {
  switch (code) {
    case '(':
    case '0':
    case '1':
    case '2':
    case 'N':
    case ')':
    case ']':
    case '}':
    case 'a':
    case 'b':
    case 'e':
    case 'l':
    case 'd':
    case 'o':
    case 'R':
    case 's':
    case 't':
    case 'u':
    case 0x85:
    case 0x86:
    case 0x87:
    case 0x88:
    case 0x89:
    case 0x81:
    case 0x92:
    case 0x93:
    case 0x94:
    case 0x8f:
    case 0x90:
    case 0x91:
    case 0x97:
    case 0x98:
    case 'Q':
    case '.':
      return Arg::kNone;
    case 0x80:
    case 'K':
    case 'q':
    case 'h':
      return Arg::kU1;  // PROTO, BININT1, BINPUT, BINGET
    case 'M':
      return Arg::kU2;  // BININT2
    case 'J':
    case 'j':
    case 'r':
      return Arg::kU4;  // BININT, LONG_BINGET, LONG_BINPUT
    case 0x95:
      return Arg::kU8;  // FRAME
    case 'G':
      return Arg::kRaw8;  // BINFLOAT
    case 'U':
    case 'C':
    case 0x8c:
    case 0x8a:
      return Arg::kBytes1;  // SHORT_BINSTRING/BYTES/UNICODE, LONG1
    case 'T':
    case 'X':
    case 'B':
    case 0x8b:
      return Arg::kBytes4;  // BINSTRING, BINUNICODE, BINBYTES, LONG4
    case 0x8d:
    case 0x8e:
    case 0x96:
      return Arg::kBytes8;  // BINUNICODE8, BINBYTES8, BYTEARRAY8
    case 'c':
    case 'i':
      return Arg::kTwoLines;  // GLOBAL, INST
    case 'I':
    case 'L':
    case 'F':
    case 'S':
    case 'V':
    case 'P':
    case 'p':
    case 'g':
      return Arg::kLine;
    default:
      return Arg::kUnknown;
  }
}

bool little_endian(const uint8_t* p, size_t n, size_t& pos, size_t k, uint64_t& v) {
  if (k > n - pos) return false;
  v = 0;
  for (size_t j = 0; j < k; ++j) v |= uint64_t{p[pos + j]} << (8 * j);
  pos += k;
  return true;
}

bool bytes(const uint8_t* p, size_t n, size_t& pos, uint64_t k, std::string_view& out) {
  if (k > n - pos) return false;
  out = std::string_view(reinterpret_cast<const char*>(p + pos), static_cast<size_t>(k));
  pos += static_cast<size_t>(k);
  return true;
}

// `lines` newline-terminated lines; `out` holds them without the last newline.
bool lines(const uint8_t* p, size_t n, size_t& pos, int count, std::string_view& out) {
  size_t end = pos;
  for (int k = 0; k < count; ++k) {
    while (end < n && p[end] != '\n') ++end;
    if (end == n) return false;
    if (k + 1 < count) ++end;
  }
  out = std::string_view(reinterpret_cast<const char*>(p + pos), end - pos);
  pos = end + 1;
  return true;
}

}  // namespace

PickleRead read_pickle_op(const uint8_t* p, size_t n, size_t& pos, PickleOp& op) {
  if (pos >= n) return PickleRead::kTruncated;
  op = PickleOp{};
  op.code = p[pos++];
  bool ok = true;
  switch (arg_of(op.code)) {
    case Arg::kNone:
      break;
    case Arg::kU1:
      ok = little_endian(p, n, pos, 1, op.arg);
      break;
    case Arg::kU2:
      ok = little_endian(p, n, pos, 2, op.arg);
      break;
    case Arg::kU4:
      ok = little_endian(p, n, pos, 4, op.arg);
      break;
    case Arg::kU8:
      ok = little_endian(p, n, pos, 8, op.arg);
      break;
    case Arg::kRaw8:
      ok = bytes(p, n, pos, 8, op.bytes);
      break;
    case Arg::kBytes1:
      ok = little_endian(p, n, pos, 1, op.arg) && bytes(p, n, pos, op.arg, op.bytes);
      break;
    case Arg::kBytes4:
      ok = little_endian(p, n, pos, 4, op.arg) && bytes(p, n, pos, op.arg, op.bytes);
      break;
    case Arg::kBytes8:
      ok = little_endian(p, n, pos, 8, op.arg) && bytes(p, n, pos, op.arg, op.bytes);
      break;
    case Arg::kLine:
      ok = lines(p, n, pos, 1, op.bytes);
      break;
    case Arg::kTwoLines:
      ok = lines(p, n, pos, 2, op.bytes);
      break;
    case Arg::kUnknown:
      return PickleRead::kUnknown;
  }
  return ok ? PickleRead::kOk : PickleRead::kTruncated;
}

}  // namespace cg
