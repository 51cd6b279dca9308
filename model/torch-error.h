// LibTorch's exceptions as our messages.
#pragma once

#include "common/error.h"

#include <c10/util/Exception.h>

#include <new>

#include <string>

namespace cg {

// LibTorch's message for `e` without its backtrace, cut to a length fit for an error line.
inline std::string short_reason(const c10::Error& e) {
  std::string why = e.what_without_backtrace();
  if (why.size() > 300) why = why.substr(0, 300) + "...";
  return why;
}

// The exception being handled as our Error, for code that calls LibTorch: a cg::Error passes
// unchanged, running out of memory (a CUDA allocation, std::bad_alloc) is kOutOfMemory whatever
// was being done, and anything else is `kind`. Every message starts with `context` (the file,
// or what was being done). Call it only inside a catch block.
[[noreturn]] inline void rethrow_as_error(ErrorKind kind, const std::string& context) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const c10::OutOfMemoryError& e) {
    throw Error(ErrorKind::kOutOfMemory, context + ": out of memory (" + short_reason(e) + ")");
  } catch (const std::bad_alloc&) {
    throw Error(ErrorKind::kOutOfMemory, context + ": out of host memory");
  } catch (const c10::Error& e) {
    throw Error(kind, context + ": " + short_reason(e));
  } catch (const std::exception& e) {
    throw Error(kind, context + ": " + e.what());
  } catch (...) {
    throw Error(kind, context + ": unknown exception");
  }
}

}  // namespace cg
