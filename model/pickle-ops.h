// Pickle opcodes and their arguments, decoded in one place for the two readers of pickles: the
// state_dict unpickler (state-dict-reader.cpp) and the guard that walks TorchScript archives
// before LibTorch does (pickle-guard.cpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cg {

struct PickleOp {
  uint8_t code = 0;
  uint64_t arg = 0;        // the integer argument: BININT*, PROTO, memo indices, string lengths
  std::string_view bytes;  // the bytes argument: strings, LONG1's digits, BINFLOAT's 8 bytes,
                           // text opcodes' line; GLOBAL's "module\nname"
};

enum class PickleRead {
  kOk,
  kTruncated,  // the data ends before the argument does
  kUnknown,    // not an opcode of protocols 0 to 5; `code` holds it
};

// Decodes the opcode at p[pos] with its argument and moves pos past them. A length argument that
// points past the data is kTruncated before anything is sized from it.
PickleRead read_pickle_op(const uint8_t* p, size_t n, size_t& pos, PickleOp& op);

}  // namespace cg
