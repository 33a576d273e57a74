// Element types of weights and activations, numbered as ggml/GGUF number them
// (the value is what a GGUF file stores in a tensor's type field), with each
// type's block geometry. Block layouts themselves are in quant_types.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace gemma4::kernels {

enum class DType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  MXFP4 = 39,
};

struct DTypeInfo {
  DType type;
  std::string_view name;   // as ggml prints it: "q4_K", "bf16"
  uint32_t block_elems;    // elements per block (1 for plain types)
  uint32_t block_bytes;    // bytes per block
  bool compute_supported;  // our kernels can compute with it (else: readable, not runnable)
};

// Geometry of a type id read from a file; nullopt for ids ggml never defined.
std::optional<DTypeInfo> dtype_info(uint32_t id);
// Same for a known enum value (always present).
const DTypeInfo& dtype_info(DType type);
std::string_view dtype_name(DType type);
// Parses a name as ggml prints it, case-insensitive ("Q4_K", "bf16").
std::optional<DType> dtype_from_name(std::string_view name);

// Bytes of a row of n elements; nullopt when n is not a multiple of the block size.
std::optional<size_t> row_bytes(DType type, uint64_t n);

}  // namespace gemma4::kernels
