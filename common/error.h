// The project's one exception type. Every message names the file or setting at fault and the
// reason; `kind` is there for the few callers that act differently on different failures (the
// element's GStreamer error domain, a data loader that skips a corrupt image).
#pragma once

#include <stdexcept>
#include <string>

namespace cg {

enum class ErrorKind {
  kModel,        // a model file is missing, unreadable, damaged or not a generator
  kSettings,     // a device, precision or other setting cannot be had on this machine
  kUsage,        // a command's options or inputs are wrong (missing folder, contradicting flags)
  kImage,        // an image file cannot be read or written
  kCheckpoint,   // a training checkpoint is missing, damaged or from another version
  kIo,           // a file cannot be written
  kRuntime,      // a computation failed (a frame, a training step)
  kOutOfMemory,  // a device or the host had no memory for a model, a frame or a batch
};

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

}  // namespace cg
