// Writes a model as a llama.cpp-compatible gemma4 GGUF, one tensor at a time
// (and each tensor in row chunks), so peak memory stays a few MB whatever the
// model size. Sources: a Hugging Face checkpoint folder or another GGUF.
#pragma once

#include "kernels/cpu/dtype.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace gemma4::formats {

struct ConvertOptions {
  // Type of the weight matrices; see target_type() for the per-tensor policy.
  kernels::DType type = kernels::DType::BF16;
  // Called once per tensor written: (index, count, name).
  std::function<void(size_t, size_t, const std::string&)> progress;
};

struct ConvertResult {
  size_t tensors = 0;
  uint64_t bytes = 0;  // output file size
};

// The output type of one tensor (GGUF name, shape outermost first):
// 1-D tensors (norms, scalars, router scales, rope_freqs) and the router
// projection stay F32; every other matrix gets `requested`.
kernels::DType target_type(const std::string& gguf_name, size_t dims, kernels::DType requested);

// Throws gemma4::Error naming the file and the problem; a partial output file
// is removed.
ConvertResult convert_to_gguf(const std::filesystem::path& input, const std::filesystem::path& output,
                              const ConvertOptions& options);

}  // namespace gemma4::formats
