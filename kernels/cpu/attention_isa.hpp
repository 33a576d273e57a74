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
void attention_split_run(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
void attention_split_merge(const AttentionArgs& args, const float* scratch);
}  // namespace scalar
namespace avx2 {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
void attention_split_run(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
void attention_split_merge(const AttentionArgs& args, const float* scratch);
}  // namespace avx2
namespace avx512 {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
void attention_split_run(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
void attention_split_merge(const AttentionArgs& args, const float* scratch);
}  // namespace avx512
namespace neon {
void attention_run(const AttentionArgs& args, size_t begin, size_t end);
void attention_split_run(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
void attention_split_merge(const AttentionArgs& args, const float* scratch);
}  // namespace neon

// The kernel of one path (which this build must contain), so that tests can
// run every path without switching the process-wide one. It does not check
// arguments: call check_attention_args first.
AttentionFn attention_kernel_for(Isa isa);

struct AttentionSplitFns {
  void (*run)(const AttentionArgs& args, size_t begin, size_t end, float* scratch);
  void (*merge)(const AttentionArgs& args, const float* scratch);
};
AttentionSplitFns attention_split_kernels_for(Isa isa);

// The checks attention() performs; throws gemma4::Error naming the problem.
void check_attention_args(const AttentionArgs& args, size_t begin, size_t end);

}  // namespace gemma4::kernels
