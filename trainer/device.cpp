#include "device.h"

#include "options.h"

#include <torch/cuda.h>

namespace cg {

c10::Device resolve_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? c10::Device("cuda:0") : c10::Device("cpu");
  if (name == "cpu") return c10::Device("cpu");
  if (name == "cuda" || name.rfind("cuda:", 0) == 0) {
    if (!torch::cuda::is_available())
      throw TrainError("--device " + name + ": no CUDA device is available (LibTorch sees none); use --device cpu");
    int index = 0;
    if (name.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(name.substr(5), &used);
        if (used != name.size() - 5 || index < 0) throw std::invalid_argument(name);
      } catch (const std::exception&) {
        throw TrainError("--device " + name + ": expected cuda:N with N a GPU number");
      }
    }
    const auto count = static_cast<int>(torch::cuda::device_count());
    if (index >= count)
      throw TrainError("--device " + name + ": there are only " + std::to_string(count) + " CUDA device(s)");
    return c10::Device(c10::DeviceType::CUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw TrainError("--device " + name + ": expected cpu, cuda, cuda:N or auto");
}

}  // namespace cg
