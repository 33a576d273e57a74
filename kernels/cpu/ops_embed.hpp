// Embedding-row gather from a table stored in any weight type (the token
// embedding and, for E2B/E4B, the per-layer embedding table).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/dtype.hpp"

namespace gemma4::kernels {

// For each i < n_ids: out[i*row_len .. (i+1)*row_len) = scale * row ids[i] of
// `table`, a [n_rows][row_len] matrix stored as `type` (rows are
// row_bytes(type, row_len) apart, as in a GGUF or safetensors file).
// Gemma 4 multiplies token embeddings by sqrt(hidden) rounded to bf16; the
// caller passes that value (1.0f for none). The product stays in F32.
// Throws gemma4::Error for an id >= n_rows (naming it), a type without
// kernels, or a row_len that is not a whole number of the type's blocks.
void embedding_gather(DType type, const void* table, size_t n_rows, size_t row_len, const uint32_t* ids, size_t n_ids,
                      float scale, float* out);

}  // namespace gemma4::kernels
