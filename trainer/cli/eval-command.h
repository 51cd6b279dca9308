#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer eval`: scores a pair of generators on a synthetic dataset.
void add_eval_command(CLI::App& app);

}  // namespace cg
