#include <gtest/gtest.h>
#include <gemma4/gemma4.hpp>

#include "kernels/cpu/cpu_features.hpp"

TEST(System, VersionMatchesHeader) {
  EXPECT_STREQ(gemma4::version(), GEMMA4_VERSION_STRING);
}

TEST(System, CpuFeaturesAreConsistent) {
  const auto& f = gemma4::kernels::cpu_features();
  // Each wider path implies the narrower one: the dispatch relies on that.
  if (f.avx512) {
    EXPECT_TRUE(f.avx2);
  }
  if (f.avx512_vnni || f.avx512_bf16) {
    EXPECT_TRUE(f.avx512);
  }
#if defined(__x86_64__)
  EXPECT_FALSE(f.neon);
#elif defined(__aarch64__)
  EXPECT_TRUE(f.neon);
  EXPECT_FALSE(f.avx2);
#endif
}

TEST(System, CpuFeaturesAgreeWithCompiler) {
#if defined(__x86_64__)
  // The compiler's own detection is an independent check of ours.
  __builtin_cpu_init();
  const auto& f = gemma4::kernels::cpu_features();
  EXPECT_EQ(f.avx2, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  EXPECT_EQ(f.avx512, __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"));
#endif
}

TEST(System, InfoLineNamesEveryPart) {
  const std::string s = gemma4::system_info();
  EXPECT_NE(s.find(gemma4::version()), std::string::npos);
  EXPECT_NE(s.find("AVX2 = "), std::string::npos);
  EXPECT_NE(s.find("CUDA: "), std::string::npos);
  if (!gemma4::cuda_compiled()) {
    EXPECT_TRUE(gemma4::cuda_devices().empty());
  }
}
