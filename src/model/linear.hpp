// Linear layers of the graph: y = x · Wᵀ for a batch of token rows, with the
// weight in its file type (any type the kernels compute with).
#pragma once

#include <cstddef>

#include "src/formats/tensor_view.hpp"
#include "src/runtime/thread_pool.hpp"

namespace gemma4::model {

// Where a linear layer runs: the context's threads and its reusable buffer
// for quantized activations.
struct Exec {
  runtime::ThreadPool& pool;
  runtime::MatmulScratch& scratch;
};

// w: [out, in]; x: [n_tokens][in]; y: [n_tokens][out]. Output rows are split
// across the pool's threads; results do not depend on the thread count.
void linear(const Exec& ex, const formats::TensorView& w, const float* x, size_t n_tokens, float* y);

// Row `row` of a [rows, cols] table as floats (embedding lookups).
void table_row(const formats::TensorView& t, size_t row, float* out);

}  // namespace gemma4::model
