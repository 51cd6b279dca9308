// Precompiled header for every translation unit that uses LibTorch: parsing torch/torch.h
// alone takes tens of seconds, so it is done once per target.
#include <torch/script.h>
#include <torch/torch.h>
