#include "kernels/cpu/ops_embed.hpp"

#include <gemma4/error.hpp>

#include <string>

#include "kernels/cpu/ops.hpp"
#include "kernels/cpu/quant.hpp"

namespace gemma4::kernels {

void embedding_gather(DType type, const void* table, size_t n_rows, size_t row_len, const uint32_t* ids, size_t n_ids,
                      float scale, float* out) {
  const auto bytes = row_bytes(type, row_len);
  if (!bytes) {
    throw Error("embedding_gather: a row of " + std::to_string(row_len) + " is not a whole number of " +
                std::string(dtype_name(type)) + " blocks");
  }
  for (size_t i = 0; i < n_ids; ++i) {
    if (ids[i] >= n_rows) {
      throw Error("embedding_gather: token id " + std::to_string(ids[i]) + " is outside the table of " +
                  std::to_string(n_rows) + " rows");
    }
  }
  const auto* base = static_cast<const uint8_t*>(table);
  for (size_t i = 0; i < n_ids; ++i) {
    float* dst = out + i * row_len;
    dequantize_row(type, base + static_cast<size_t>(ids[i]) * *bytes, dst, row_len);
    if (scale != 1.0f) kernels::scale(dst, scale, dst, row_len);
  }
}

}  // namespace gemma4::kernels
