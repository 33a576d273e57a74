// The per-ISA function table behind matmul.hpp. Internal to kernels/cpu:
// matmul_isa.cpp is compiled once per ISA and each copy exports its table as
// gemma4::kernels::<isa>::matmul_table(); matmul.cpp picks one at run time.
// Data only (no inline functions), so the ISA translation units may include it.
#pragma once

#include <cstddef>

namespace gemma4::kernels {

// Turns n activations into the row format a weight type's dot product reads
// (BlockQ8A or BlockQ8K blocks; n is a multiple of the block size).
using QuantizeActivationsFn = void (*)(const float* x, size_t n, void* out);

// Dot product of one weight row of n elements with prepared activations.
using VecDotFn = float (*)(size_t n, const void* w_row, const void* x_prepared);

struct MatmulTable {
  QuantizeActivationsFn quantize_q8a;   // for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0
  QuantizeActivationsFn quantize_q8k;   // for Q4_K, Q5_K, Q6_K
  QuantizeActivationsFn order_bf16;     // for BF16: F32 in the bf16_pairs order (matmul.cpp)
  VecDotFn dot_f32, dot_f16, dot_bf16;  // activations stay F32
  VecDotFn dot_q4_0, dot_q4_1, dot_q5_0, dot_q5_1, dot_q8_0;
  VecDotFn dot_q4_k, dot_q5_k, dot_q6_k;
};

// R rows times T prepared activation rows at once (matmul_tile_isa.cpp):
// y[t * ldy + r] for r < rows, t < n_tok, weight row r at w + r * w_stride,
// activation row t at x + t * x_stride. Each element comes out bitwise the
// same whatever rows, n_tok and the pointers are. Null where a path has none.
using TileDotFn = void (*)(size_t n, const void* w, size_t w_stride, size_t rows, const void* x, size_t x_stride,
                           size_t n_tok, float* y, size_t ldy);

// BF16 matmul hands the tile kernel token tiles of a multiple of this many
// tokens (matmul.cpp): whole tiles of every path's bf16 kernel
// (matmul_tile_isa.cpp), so only the last token tile can leave tokens over
// for the slower one-token form.
inline constexpr size_t kBf16TokensPerPass = 6;

struct TileKernels {
  TileDotFn q4_0, q8_0, q4_k, q5_k, q6_k, bf16;
};

namespace scalar {
const MatmulTable& matmul_table();
const TileKernels& tile_kernels();
}  // namespace scalar
namespace avx2 {
const MatmulTable& matmul_table();
const TileKernels& tile_kernels();
}  // namespace avx2
namespace avx512 {
const MatmulTable& matmul_table();
const TileKernels& tile_kernels();
}  // namespace avx512
namespace avx512vnni {  // tile kernels only
const TileKernels& tile_kernels();
}
namespace neon {
const MatmulTable& matmul_table();
const TileKernels& tile_kernels();
}  // namespace neon

}  // namespace gemma4::kernels
