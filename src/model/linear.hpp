// Linear layers of the graph: y = x · Wᵀ for a batch of token rows, with the
// weight in its file type (any type the kernels compute with).
#pragma once

#include <cstddef>

#include "src/formats/tensor_view.hpp"

namespace gemma4::model {

// w: [out, in]; x: [n_tokens][in]; y: [n_tokens][out].
void linear(const formats::TensorView& w, const float* x, size_t n_tokens, float* y);

// Row `row` of a [rows, cols] table as floats (embedding lookups).
void table_row(const formats::TensorView& t, size_t row, float* out);

}  // namespace gemma4::model
