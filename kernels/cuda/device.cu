#include "kernels/cuda/device.hpp"

#include <cuda_runtime.h>

namespace gemma4::cuda {

std::vector<Device> devices() {
  std::vector<Device> out;
  int count = 0;
  // No driver or no device is a normal situation on a CPU-only machine, not an error.
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error state
    return out;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    out.push_back(Device{prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  return out;
}

}  // namespace gemma4::cuda
