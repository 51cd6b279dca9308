#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer test`: translate a folder of images with a G.pt generator.
void add_test_command(CLI::App& app);

}  // namespace cg
