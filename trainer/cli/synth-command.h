#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer synth`: write the synthetic facades dataset.
void add_synth_command(CLI::App& app);

}  // namespace cg
