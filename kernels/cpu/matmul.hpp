// Matrix x vector (decode) and matrix x matrix (prefill) for every weight
// type, with run-time ISA dispatch (isa.hpp). Weights are row-major rows of
// `cols` elements in their file type (row stride row_bytes(type, cols));
// activations and results are F32.
//
// Use: prepare the activations once per call (integer types quantize them to
// 8-bit blocks here), then compute any range of output rows, so callers can
// split rows across threads (src/runtime/thread_pool.hpp does). Every output
// element is computed by one dot product whose order does not depend on the
// row range, so any split gives bitwise identical results.
#pragma once

#include <cstddef>

#include "kernels/cpu/dtype.hpp"

namespace gemma4::kernels {

// Bytes prepare_activations writes for one activation row of `cols` values
// used with weights of type `w`. Throws gemma4::Error (naming the type) when
// `w` has no kernels or cols is not a multiple of its block size.
size_t activation_row_bytes(DType w, size_t cols);

// Converts x[0..cols) into `out` (activation_row_bytes(w, cols) bytes, no
// alignment needed) in the form the dot products for `w` read.
void prepare_activations(DType w, const float* x, size_t cols, void* out);

// y[r] = dot(row r of weights, x) for r in [r0, r1). x_prepared comes from
// prepare_activations with the same type and cols; y is the full output.
void matvec(DType w, const void* weights, size_t cols, const void* x_prepared, float* y, size_t r0, size_t r1);

// y[t * ldy + r] = dot(row r of weights, token t) for r in [r0, r1) and t in
// [0, n_tokens): x_prepared holds n_tokens prepared rows back to back.
// Blocked so that a tile of weight rows stays in cache while every token
// passes over it.
void matmul(DType w, const void* weights, size_t cols, const void* x_prepared, size_t n_tokens, float* y, size_t ldy,
            size_t r0, size_t r1);

}  // namespace gemma4::kernels
