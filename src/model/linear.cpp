#include "src/model/linear.hpp"

#include <gemma4/error.hpp>

#include <array>
#include <string>

#include "kernels/cpu/dtype.hpp"
#include "kernels/cpu/quant.hpp"
#include "src/formats/mapped_file.hpp"

namespace gemma4::model {

void linear(const Exec& ex, const formats::TensorView& w, const float* x, size_t n_tokens, float* y) {
  linear_rows(ex, w, w.shape[0], x, n_tokens, y, w.shape[0]);
}

void linear_rows(const Exec& ex, const formats::TensorView& w, size_t out_rows, const float* x, size_t n_tokens,
                 float* y, size_t ldy) {
  if (out_rows > w.shape[0]) throw Error("linear_rows: " + std::to_string(out_rows) + " outputs of " + w.name);
  if (n_tokens == 1) {  // one pass over the rows, without a stride to honour
    runtime::parallel_matvec(ex.pool, w.type, w.data.data(), out_rows, w.shape[1], x, y, ex.scratch);
  } else {
    runtime::parallel_matmul(ex.pool, w.type, w.data.data(), out_rows, w.shape[1], x, n_tokens, y, ex.scratch, ldy);
  }
}

void linears(const Exec& ex, std::span<const LinearJob> jobs, size_t n_tokens) {
  if (n_tokens != 1 || jobs.size() > runtime::kMaxMatvecs) {
    for (const LinearJob& j : jobs) linear(ex, *j.w, j.x, n_tokens, j.y);
    return;
  }
  std::array<runtime::Matvec, runtime::kMaxMatvecs> mv;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const formats::TensorView& w = *jobs[i].w;
    mv[i] = {w.type, w.data.data(), w.shape[0], w.shape[1], jobs[i].x, jobs[i].y};
  }
  runtime::parallel_matvecs(ex.pool, std::span<const runtime::Matvec>(mv.data(), jobs.size()), ex.scratch);
}

void table_row(const formats::TensorView& t, size_t row, float* out) {
  const size_t cols = t.shape[1];
  const size_t row_bytes = *kernels::row_bytes(t.type, cols);
  kernels::dequantize_row(t.type, t.data.data() + row * row_bytes, out, cols);
}

void table_row_read(const formats::TensorView& t, size_t row, float* out, std::vector<std::byte>& buf) {
  if (t.file == nullptr) return table_row(t, row, out);
  const size_t cols = t.shape[1];
  const size_t row_bytes = *kernels::row_bytes(t.type, cols);
  buf.resize(row_bytes);
  t.file->read_at(t.file_offset + row * row_bytes, buf);
  kernels::dequantize_row(t.type, buf.data(), out, cols);
}

}  // namespace gemma4::model
