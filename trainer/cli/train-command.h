#pragma once

#include <CLI/CLI.hpp>

namespace cg {

void add_train_command(CLI::App& app);
void add_distill_command(CLI::App& app);

}  // namespace cg
