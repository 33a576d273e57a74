// Internal: the attention kernel each SIMD path provides (attention_simd.cpp,
// compiled once per path). attention.cpp validates the arguments first.
#pragma once

#include <cstddef>

#include "kernels/cpu/attention.hpp"
#include "kernels/cpu/isa.hpp"

namespace gemma4::kernels {

using AttentionFn = void (*)(const AttentionArgs& args, size_t begin, size_t end);

namespace scalar {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
}
namespace avx2 {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
}
namespace avx512 {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
}
namespace neon {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
}

// The kernel of one path (which this build must contain), so that tests can
// run every path without switching the process-wide one. It does not check
// arguments: call check_attention_args first.
AttentionFn attention_kernel_for(Isa isa);

// The checks attention() performs; throws gemma4::Error naming the problem.
void check_attention_args(const AttentionArgs& args, size_t begin, size_t end);

}  // namespace gemma4::kernels
