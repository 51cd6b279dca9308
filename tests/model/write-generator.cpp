// Writes a G.pt from an official-style generator state_dict, for the Python parity test of
// architectures that `cg-trainer export` cannot infer from the shapes (the mobile blocks):
//   write-generator IN.pth OUT.pt [--mobile]
#include "model/model-file.h"
#include "model/official-import.h"

#include <exception>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4 || (argc == 4 && std::string(argv[3]) != "--mobile")) {
    std::cerr << "usage: write-generator IN.pth OUT.pt [--mobile]\n";
    return 2;
  }
  try {
    auto g = cg::import_official_generator(argv[1]);
    const auto o = g->options();
    g->eval();
    cg::save_generator(g, cg::ModelMetadata::for_generator(o), argv[2]);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
