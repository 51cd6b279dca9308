#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer flicker`: the warping error of a translated video against its input's motion.
void add_flicker_command(CLI::App& app);

}  // namespace cg
