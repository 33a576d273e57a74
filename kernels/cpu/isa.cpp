#include "kernels/cpu/isa.hpp"

#include <gemma4/error.hpp>

#include <atomic>
#include <cstdlib>
#include <string>

#include "kernels/cpu/cpu_features.hpp"

namespace gemma4::kernels {
namespace {

bool built_with(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return true;
#if defined(GEMMA4_HAVE_ISA_AVX2)
    case Isa::avx2:
      return true;
#endif
#if defined(GEMMA4_HAVE_ISA_AVX512)
    case Isa::avx512:
      return true;
#endif
#if defined(GEMMA4_HAVE_ISA_NEON)
    case Isa::neon:
      return true;
#endif
    default:
      return false;
  }
}

bool cpu_runs(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::scalar:
      return true;
    case Isa::avx2:
      return f.avx2;
    case Isa::avx512:
      return f.avx512;
    case Isa::neon:
      return f.neon;
  }
  return false;
}

bool usable(Isa isa) {
  return built_with(isa) && cpu_runs(isa);
}

Isa parse_isa(std::string_view s) {
  for (Isa isa : {Isa::scalar, Isa::avx2, Isa::avx512, Isa::neon}) {
    if (s == isa_name(isa)) return isa;
  }
  throw Error("GEMMA4_ISA='" + std::string(s) + "' is not one of scalar, avx2, avx512, neon");
}

Isa choose_isa() {
  if (const char* env = std::getenv("GEMMA4_ISA"); env != nullptr && *env != '\0') {
    const Isa isa = parse_isa(env);
    if (!usable(isa)) {
      throw Error("GEMMA4_ISA=" + std::string(env) + " is not supported by this CPU or this build");
    }
    return isa;
  }
  const auto all = supported_isas();
  return all.back();
}

std::atomic<int> g_isa{-1};

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::scalar:
      return "scalar";
    case Isa::avx2:
      return "avx2";
    case Isa::avx512:
      return "avx512";
    case Isa::neon:
      return "neon";
  }
  return "unknown";
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::scalar, Isa::neon, Isa::avx2, Isa::avx512}) {
    if (usable(isa)) out.push_back(isa);
  }
  return out;
}

Isa active_isa() {
  int v = g_isa.load(std::memory_order_acquire);
  if (v < 0) {
    v = static_cast<int>(choose_isa());
    g_isa.store(v, std::memory_order_release);
  }
  return static_cast<Isa>(v);
}

void set_active_isa(Isa isa) {
  if (!usable(isa)) {
    throw Error("kernel path '" + std::string(isa_name(isa)) + "' is not supported by this CPU or this build");
  }
  g_isa.store(static_cast<int>(isa), std::memory_order_release);
}

}  // namespace gemma4::kernels
