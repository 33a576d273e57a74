// Conversion of rows between F32 and every weight type we compute with
// (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K). Portable
// scalar code: dequantize is the reference the SIMD kernels are tested
// against, quantize is what the converter writes files with.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/dtype.hpp"

namespace gemma4::kernels {

// dst[0..n) = the n values stored in src. Throws gemma4::Error when the type
// has no kernels or n is not a multiple of its block size.
void dequantize_row(DType type, const void* src, float* dst, size_t n);

// Writes row_bytes(type, n) bytes to dst encoding src[0..n). The quantized
// types produce the same bytes as ggml's reference quantizers
// (quantize_row_*_ref); see docs/kernels.md. Same errors as dequantize_row.
void quantize_row(DType type, const float* src, void* dst, size_t n);

// Out-of-line half -> float, for the portable ISA path (the ISA translation
// units may not include fp16.hpp's inline functions; see CMakeLists.txt).
float half_to_float_portable(uint16_t h);

// Q4_K/Q5_K pack 8 six-bit scales and 8 six-bit mins into 12 bytes; these
// give sub-block j's pair (j in 0..7).
void unpack_k_scales(const uint8_t packed[12], uint8_t scales[8], uint8_t mins[8]);

}  // namespace gemma4::kernels
