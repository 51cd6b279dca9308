// LibTorch's exceptions as our messages.
#pragma once

#include <c10/util/Exception.h>

#include <string>

namespace cg {

// LibTorch's message for `e` without its backtrace, cut to a length fit for an error line.
inline std::string short_reason(const c10::Error& e) {
  std::string why = e.what_without_backtrace();
  if (why.size() > 300) why = why.substr(0, 300) + "...";
  return why;
}

}  // namespace cg
