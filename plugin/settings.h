// The element's property values, as the application set them.
//
// Locking rule: a Settings is read and written only under its element's object lock, taken with
// ObjectLock, and only to copy values in or out; nothing else is ever done under that lock. The
// application's thread writes it (set_property); the streaming thread and the model reloader read
// copies of what they need.
#pragma once

#include "engine/engine.h"
#include "plugin/temporal.h"

#include <glib.h>

#include <cstdint>
#include <string>

namespace cg::plugin {

// The process-size values that are words rather than WxH.
constexpr const char* kProcessSizeNative = "native";
constexpr const char* kProcessSizeModel = "model";
constexpr guint kMaxBatchSize = 64;
constexpr guint kMaxThreads = 1024;

// A default-constructed Settings holds every property's default: the ParamSpecs announce them
// from one (gstcyclegan.cpp), and those that are engine options are the engine's own defaults.
struct Settings {
  std::string model;
  std::string device = cg::EngineOptions().device;
  cg::Precision precision = cg::EngineOptions().precision;
  guint threads = static_cast<guint>(cg::EngineOptions().threads);
  std::string process_size = kProcessSizeNative;
  bool bypass = false;
  guint batch_size = 1;
  cg::MemoryFormat memory_format = cg::EngineOptions().memory_format;
  TemporalSettings temporal;
  cg::Runtime runtime = cg::EngineOptions().runtime;
  // Not an engine option: each pass is given its share of `threads` (plugin/batching.cpp), so a
  // change needs no new engine.
  guint parallel_frames = 1;
  // Counts the changes that need a new engine, so that start() can tell whether one came in
  // while it was loading the model.
  uint64_t engine_version = 0;
};

// "native", "model" or "WxH" (1 to 16384 each); false for anything else.
bool parse_process_size(const std::string& text, cg::EngineOptions* options);

// What the engine is to be built from.
cg::EngineOptions engine_options(const Settings& settings);

}  // namespace cg::plugin
