// The CUDA backend's device queries, callable from code compiled without nvcc.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace gemma4::cuda {

struct Device {
  std::string name;
  int major = 0;
  int minor = 0;
  std::size_t total_memory = 0;
};

// Devices visible to the CUDA runtime; empty when there is no driver or no GPU.
std::vector<Device> devices();

}  // namespace gemma4::cuda
