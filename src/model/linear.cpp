#include "src/model/linear.hpp"

#include <vector>

#include "kernels/cpu/dtype.hpp"
#include "kernels/cpu/quant.hpp"

namespace gemma4::model {

void linear(const formats::TensorView& w, const float* x, size_t n_tokens, float* y) {
  const size_t rows = w.shape[0], cols = w.shape[1];
  const size_t row_bytes = *kernels::row_bytes(w.type, cols);
  std::vector<float> wrow(cols);
  for (size_t o = 0; o < rows; ++o) {
    kernels::dequantize_row(w.type, w.data.data() + o * row_bytes, wrow.data(), cols);
    for (size_t t = 0; t < n_tokens; ++t) {
      const float* xt = x + t * cols;
      float acc = 0.0f;
      for (size_t i = 0; i < cols; ++i) acc += wrow[i] * xt[i];
      y[t * rows + o] = acc;
    }
  }
}

void table_row(const formats::TensorView& t, size_t row, float* out) {
  const size_t cols = t.shape[1];
  const size_t row_bytes = *kernels::row_bytes(t.type, cols);
  kernels::dequantize_row(t.type, t.data.data() + row * row_bytes, out, cols);
}

}  // namespace gemma4::model
