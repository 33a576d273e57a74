#include "src/model/linear.hpp"

#include "kernels/cpu/dtype.hpp"
#include "kernels/cpu/quant.hpp"

namespace gemma4::model {

void linear(const Exec& ex, const formats::TensorView& w, const float* x, size_t n_tokens, float* y) {
  const size_t rows = w.shape[0], cols = w.shape[1];
  if (n_tokens == 1) {
    runtime::parallel_matvec(ex.pool, w.type, w.data.data(), rows, cols, x, y, ex.scratch);
  } else {
    runtime::parallel_matmul(ex.pool, w.type, w.data.data(), rows, cols, x, n_tokens, y, ex.scratch);
  }
}

void table_row(const formats::TensorView& t, size_t row, float* out) {
  const size_t cols = t.shape[1];
  const size_t row_bytes = *kernels::row_bytes(t.type, cols);
  kernels::dequantize_row(t.type, t.data.data() + row * row_bytes, out, cols);
}

}  // namespace gemma4::model
