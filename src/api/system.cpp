#include <gemma4/system.hpp>
#include <gemma4/version.hpp>

#include <fmt/format.h>

#include <thread>

#include "kernels/cpu/cpu_features.hpp"
#if defined(GEMMA4_WITH_CUDA)
#include "kernels/cuda/device.hpp"
#endif

namespace gemma4 {

CpuInfo cpu_info() {
  const auto& f = kernels::cpu_features();
  CpuInfo info;
  info.avx2 = f.avx2;
  info.avx512 = f.avx512;
  info.avx512_vnni = f.avx512_vnni;
  info.avx512_bf16 = f.avx512_bf16;
  info.neon = f.neon;
  info.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
  return info;
}

bool cuda_compiled() {
#if defined(GEMMA4_WITH_CUDA)
  return true;
#else
  return false;
#endif
}

std::vector<CudaDeviceInfo> cuda_devices() {
  std::vector<CudaDeviceInfo> out;
#if defined(GEMMA4_WITH_CUDA)
  for (const auto& d : cuda::devices()) {
    out.push_back(CudaDeviceInfo{d.name, d.major, d.minor, d.total_memory});
  }
#endif
  return out;
}

std::string system_info() {
  const CpuInfo cpu = cpu_info();
  std::string s = fmt::format(
      "gemma4 {} | CPU: {} logical cores, AVX2 = {}, AVX512 = {}, AVX512_VNNI = {}, "
      "AVX512_BF16 = {}, NEON = {}",
      version(), cpu.logical_cores, int(cpu.avx2), int(cpu.avx512), int(cpu.avx512_vnni), int(cpu.avx512_bf16),
      int(cpu.neon));
  if (!cuda_compiled()) {
    s += " | CUDA: not built";
  } else {
    const auto devs = cuda_devices();
    s += fmt::format(" | CUDA: {} device(s)", devs.size());
    for (const auto& d : devs) {
      s += fmt::format(", {} (sm_{}{}, {:.1f} GiB)", d.name, d.compute_major, d.compute_minor,
                       double(d.total_memory) / (1024.0 * 1024.0 * 1024.0));
    }
  }
  return s;
}

}  // namespace gemma4
