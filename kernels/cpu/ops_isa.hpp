// Internal: the table of op implementations each SIMD path provides, so that
// ops.cpp can dispatch at run time. ops.cpp checks arguments before calling
// through the table; implementations assume valid arguments.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/isa.hpp"

namespace gemma4::kernels {

struct OpsTable {
  void (*rms_norm)(const float* x, const float* weight, float* out, size_t rows, size_t n, float eps);
  void (*rope)(float* x, size_t rows, size_t head_dim, const float* cos, const float* sin, size_t n_pairs);
  void (*softmax)(float* x, size_t n);
  void (*gelu_tanh)(const float* x, float* out, size_t n);
  void (*geglu)(const float* gate, const float* up, float* out, size_t n);
  void (*softcap)(float* x, size_t n, float cap);
  void (*add)(const float* a, const float* b, float* out, size_t n);
  void (*mul)(const float* a, const float* b, float* out, size_t n);
  void (*scale)(const float* x, float s, float* out, size_t n);
  void (*add_scaled)(float* acc, const float* x, float s, size_t n);
  size_t (*top_k)(const float* x, size_t n, size_t k, uint32_t* indices, float* values);
};

// One table per path, defined in ops_simd.cpp (compiled once per path). Only
// the paths this build contains are defined; ops.cpp refers to those alone.
namespace scalar {
const OpsTable& ops_table();
}
namespace avx2 {
const OpsTable& ops_table();
}
namespace avx512 {
const OpsTable& ops_table();
}
namespace neon {
const OpsTable& ops_table();
}

// Returns the table of one path (which must be supported), for tests that
// compare every path against the scalar reference without switching the
// process-wide path.
const OpsTable& ops_table_for(Isa isa);

}  // namespace gemma4::kernels
