#include "plugin/settings.h"

#include <cstdio>

namespace cg::plugin {

bool parse_process_size(const std::string& text, cg::EngineOptions* options) {
  options->process_width = options->process_height = 0;
  options->process_at_model_crop = false;
  if (text == kProcessSizeNative) return true;
  if (text == kProcessSizeModel) {
    options->process_at_model_crop = true;
    return true;
  }
  int w = 0, h = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%dx%d%c", &w, &h, &tail) != 2 || w < 1 || h < 1 || w > 16384 || h > 16384)
    return false;
  options->process_width = w;
  options->process_height = h;
  return true;
}

cg::EngineOptions engine_options(const Settings& settings) {
  cg::EngineOptions o;
  o.model_path = settings.model;
  o.device = settings.device;
  o.precision = settings.precision;
  o.threads = static_cast<int>(settings.threads);
  o.memory_format = settings.memory_format;
  o.runtime = settings.runtime;
  parse_process_size(settings.process_size, &o);  // stored only once it parsed
  return o;
}

}  // namespace cg::plugin
