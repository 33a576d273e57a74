// Writes a model as a llama.cpp-compatible gemma4 GGUF, one tensor at a time
// (and each tensor in row chunks), so peak memory stays a few MB whatever the
// model size. Sources: a Hugging Face checkpoint folder or another GGUF.
#pragma once

#include "kernels/cpu/dtype.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace gemma4::formats {

// What `--type` asks for: the type of the big matrices, and the exceptions
// the per-tensor policy makes (see target_type and docs/formats.md).
struct ConvertScheme {
  std::string name;          // "q4_k_m"
  kernels::DType matrices;   // most weight matrices
  kernels::DType more_bits;  // attn_v and ffn_down(_exps) in the "_m" mixes
  kernels::DType embedding;  // token_embd, which is also the (tied) output head
  uint32_t file_type = 0;    // llama.cpp's general.file_type (LLAMA_FTYPE_*)
};
// f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m, q6_k; throws on anything else.
ConvertScheme convert_scheme(const std::string& name);

struct ConvertOptions {
  ConvertScheme scheme = convert_scheme("bf16");
  // Called once per tensor written: (index, count, name).
  std::function<void(size_t, size_t, const std::string&)> progress;
};

struct ConvertResult {
  size_t tensors = 0;
  uint64_t bytes = 0;  // output file size
};

// The output type of one tensor (GGUF name, shape outermost first):
// 1-D tensors (norms, scalars, router scales, rope_freqs) and the router
// projection stay F32; token_embd gets the scheme's embedding type; attn_v
// and ffn_down the "more bits" type; the rest the matrix type. Rows that are
// not whole blocks of the chosen type fall back to a smaller block (Q4_K ->
// Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0), then to F16.
kernels::DType target_type(const std::string& gguf_name, const std::vector<uint64_t>& shape,
                           const ConvertScheme& scheme);

// Throws gemma4::Error naming the file and the problem; a partial output file
// is removed.
ConvertResult convert_to_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                              const ConvertOptions& options);

}  // namespace gemma4::formats
