// The element's property values, as the application set them.
//
// Locking rule: a Settings is read and written only under its element's object lock, taken with
// ObjectLock, and only to copy values in or out; nothing else is ever done under that lock. The
// application's thread writes it (set_property); the streaming thread and the model reloader read
// copies of what they need.
#pragma once

#include "engine/engine.h"

#include <glib.h>

#include <cstdint>
#include <string>

namespace cg::plugin {

struct Settings {
  std::string model;
  std::string device = "auto";
  cg::Precision precision = cg::Precision::kFP32;
  guint threads = 0;
  std::string process_size = "native";
  bool bypass = false;
  guint batch_size = 1;
  cg::MemoryFormat memory_format = cg::MemoryFormat::kAuto;
  // Counts the changes that need a new engine, so that start() can tell whether one came in
  // while it was loading the model.
  uint64_t engine_version = 0;
};

// "native", "model" or "WxH" (1 to 16384 each); false for anything else.
bool parse_process_size(const std::string& text, cg::EngineOptions* options);

// What the engine is to be built from.
cg::EngineOptions engine_options(const Settings& settings);

}  // namespace cg::plugin
