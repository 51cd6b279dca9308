#include "model/pickle-guard.h"

#include "common/error.h"
#include "model/pickle-ops.h"
#include "model/torch-error.h"

#include <caffe2/serialize/inline_container.h>

namespace cg {

namespace {

// LibTorch's unpickler sizes strings from their length fields before reading them: a damaged
// 20 KB file claiming a 4 GB string makes torch::jit::load allocate and fill 4 GB (found by
// fuzzing). A memo index is used the same way (LONG_BINPUT 0xffffffff allocates a 64 GB memo).
// So every pickle in the archive is walked first, opcode by opcode, and refused when a length
// points past its end or a memo index exceeds the number of bytes (each entry costs at least one).
bool pickle_lengths_fit(const uint8_t* p, size_t n) {
  size_t pos = 0;
  PickleOp op;
  while (read_pickle_op(p, n, pos, op) == PickleRead::kOk) {
    if (op.code == '.') return true;                 // STOP
    if (op.code == 'r' && op.arg > n) return false;  // LONG_BINPUT
  }
  return false;  // truncated, an unknown opcode, or no STOP
}

}  // namespace

void check_pickles(const std::string& path) {
  try {
    caffe2::serialize::PyTorchStreamReader zip(path);
    for (const auto& name : zip.getAllRecords()) {
      if (name.size() < 3 || name.compare(name.size() - 3, 3, "pkl") != 0) continue;  // data.pkl, *.debug_pkl
      auto [data, size] = zip.getRecord(name);
      if (!pickle_lengths_fit(static_cast<const uint8_t*>(data.get()), size))
        throw Error(ErrorKind::kModel, path + ": damaged archive (" + name + " is not a well-formed pickle)");
    }
  } catch (const c10::Error& e) {
    throw Error(ErrorKind::kModel, path + ": not a loadable TorchScript model (" + short_reason(e) + ")");
  }
}

}  // namespace cg
