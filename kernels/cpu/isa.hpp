// Which SIMD code path the CPU kernels use. Chosen once at start-up from what
// the CPU supports, overridable with GEMMA4_ISA=scalar|avx2|avx512|neon (tests
// and benchmarks use this to run every path the machine supports).
#pragma once

#include <string_view>
#include <vector>

namespace gemma4::kernels {

enum class Isa { scalar, avx2, avx512, neon };

std::string_view isa_name(Isa isa);

// The paths this build contains and this CPU can run, scalar first.
std::vector<Isa> supported_isas();

// The path in use: GEMMA4_ISA if set (an unsupported or unknown value throws
// gemma4::Error naming it), else the widest supported.
Isa active_isa();

// Switches the path for the whole process (tests and benchmarks only; not
// thread-safe with kernels running). Throws gemma4::Error when unsupported.
void set_active_isa(Isa isa);

}  // namespace gemma4::kernels
