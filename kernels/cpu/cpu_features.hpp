// Run-time detection of the CPU's SIMD instruction sets. The kernel dispatch
// uses it to choose a code path once, at start-up.
#pragma once

namespace gemma4::kernels {

struct CpuFeatures {
  bool avx2 = false;         // AVX2 with FMA and F16C (every AVX2 laptop since Haswell)
  bool avx512 = false;       // AVX-512 F, BW, DQ and VL (Skylake-X and later, Zen 4)
  bool avx512_vnni = false;  // VPDPBUSD int8 dot products
  bool avx512_bf16 = false;  // VDPBF16PS bf16 dot products
  bool neon = false;         // Arm Advanced SIMD (always on AArch64)
};

// Detected once and cached; safe to call from any thread.
const CpuFeatures& cpu_features();

}  // namespace gemma4::kernels
