// What this machine offers the engine: CPU instruction sets, the kernel path
// that was chosen, and CUDA devices.
#pragma once

#include <string>
#include <vector>

namespace gemma4 {

struct CpuInfo {
  bool avx2 = false;         // AVX2 + FMA + F16C: the "avx2" kernel path
  bool avx512 = false;       // AVX-512 F/BW/DQ/VL: the "avx512" kernel path
  bool avx512_vnni = false;  // int8 dot products
  bool avx512_bf16 = false;  // bf16 dot products
  bool neon = false;         // Arm Advanced SIMD
  int logical_cores = 0;
};

struct CudaDeviceInfo {
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t total_memory = 0;
};

CpuInfo cpu_info();

// True when this build contains the CUDA backend (GEMMA4_CUDA at configure time).
bool cuda_compiled();
// The CUDA devices visible now; empty without a driver or a device.
std::vector<CudaDeviceInfo> cuda_devices();

// One line for logs and `gemma4 --version`, like llama.cpp's system_info.
std::string system_info();

}  // namespace gemma4
