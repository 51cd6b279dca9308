#pragma once

#include <CLI/CLI.hpp>

namespace cg {

// `cg-trainer export --from NET_G.pth --to G.pt`: an official generator state_dict to a G.pt.
void add_export_command(CLI::App& app);
// `cg-trainer info G.pt`: what a model file holds.
void add_info_command(CLI::App& app);

}  // namespace cg
