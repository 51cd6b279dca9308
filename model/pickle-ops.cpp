#include "model/pickle-ops.h"

#include <array>
#include <initializer_list>

namespace cg {

namespace {

enum class Arg { kNone, kU1, kU2, kU4, kU8, kBytes1, kBytes4, kBytes8, kRaw8, kLine, kTwoLines, kUnknown };

// How each opcode of protocols 0 to 5 encodes its argument.
Arg arg_of(uint8_t code) {
  static const std::array<Arg, 256> table = [] {
    std::array<Arg, 256> t;
    t.fill(Arg::kUnknown);
    auto set = [&t](std::initializer_list<int> codes, Arg arg) {
      for (const int c : codes) t[static_cast<size_t>(c)] = arg;
    };
    set({'(', '0', '1', '2',  'N',  ')',  ']',  '}',  'a',  'b',  'e',  'l',  'd',  'o',  'R',  's',  't',
         'u', 'Q', '.', 0x81, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8f, 0x90, 0x91, 0x92, 0x93, 0x94, 0x97, 0x98},
        Arg::kNone);
    set({0x80, 'K', 'q', 'h'}, Arg::kU1);                       // PROTO, BININT1, BINPUT, BINGET
    set({'M'}, Arg::kU2);                                       // BININT2
    set({'J', 'j', 'r'}, Arg::kU4);                             // BININT, LONG_BINGET, LONG_BINPUT
    set({0x95}, Arg::kU8);                                      // FRAME
    set({'G'}, Arg::kRaw8);                                     // BINFLOAT
    set({'U', 'C', 0x8c, 0x8a}, Arg::kBytes1);                  // SHORT_BINSTRING/BYTES/UNICODE, LONG1
    set({'T', 'X', 'B', 0x8b}, Arg::kBytes4);                   // BINSTRING, BINUNICODE, BINBYTES, LONG4
    set({0x8d, 0x8e, 0x96}, Arg::kBytes8);                      // BINUNICODE8, BINBYTES8, BYTEARRAY8
    set({'c', 'i'}, Arg::kTwoLines);                            // GLOBAL, INST
    set({'I', 'L', 'F', 'S', 'V', 'P', 'p', 'g'}, Arg::kLine);  // the text opcodes of protocol 0
    return t;
  }();
  return table[code];
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
    case Arg::kNone: break;
    case Arg::kU1: ok = little_endian(p, n, pos, 1, op.arg); break;
    case Arg::kU2: ok = little_endian(p, n, pos, 2, op.arg); break;
    case Arg::kU4: ok = little_endian(p, n, pos, 4, op.arg); break;
    case Arg::kU8: ok = little_endian(p, n, pos, 8, op.arg); break;
    case Arg::kRaw8: ok = bytes(p, n, pos, 8, op.bytes); break;
    case Arg::kBytes1: ok = little_endian(p, n, pos, 1, op.arg) && bytes(p, n, pos, op.arg, op.bytes); break;
    case Arg::kBytes4: ok = little_endian(p, n, pos, 4, op.arg) && bytes(p, n, pos, op.arg, op.bytes); break;
    case Arg::kBytes8: ok = little_endian(p, n, pos, 8, op.arg) && bytes(p, n, pos, op.arg, op.bytes); break;
    case Arg::kLine: ok = lines(p, n, pos, 1, op.bytes); break;
    case Arg::kTwoLines: ok = lines(p, n, pos, 2, op.bytes); break;
    case Arg::kUnknown: return PickleRead::kUnknown;
  }
  return ok ? PickleRead::kOk : PickleRead::kTruncated;
}

}  // namespace cg
