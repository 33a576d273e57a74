// Linear layers of the graph: y = x · Wᵀ for a batch of token rows, with the
// weight in its file type (any type the kernels compute with).
#pragma once

#include <cstddef>
#include <span>
#include <vector>

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

// The first out_rows outputs only (rows [0, out_rows) of w), for each token
// into y rows ldy floats apart.
void linear_rows(const Exec& ex, const formats::TensorView& w, size_t out_rows, const float* x, size_t n_tokens,
                 float* y, size_t ldy);

// Several linear layers over the same n_tokens: y_i = x_i · W_iᵀ. A single
// token runs them as one parallel pass (see runtime::parallel_matvecs).
struct LinearJob {
  const formats::TensorView* w;
  const float* x;
  float* y;
};
void linears(const Exec& ex, std::span<const LinearJob> jobs, size_t n_tokens);

// Row `row` of a [rows, cols] table as floats (embedding lookups).
void table_row(const formats::TensorView& t, size_t row, float* out);

// The same for a large lookup table read a row per token (the per-layer
// embeddings): the row is read from the file with pread() into `buf` when
// the view has a file, so the table's pages never enter the process's
// mapping (MappedFile explains why); from the mapping otherwise.
void table_row_read(const formats::TensorView& t, size_t row, float* out, std::vector<std::byte>& buf);

}  // namespace gemma4::model
