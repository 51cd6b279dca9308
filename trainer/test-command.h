#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer test`: translate a folder of images with a G.pt generator.
void add_test_command(CLI::App& app);
// `cg-trainer synth`: write the synthetic facades dataset.
void add_synth_command(CLI::App& app);

}  // namespace cg
