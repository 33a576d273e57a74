// Model conversion to a llama.cpp-compatible gemma4 GGUF (`gemma4 convert`).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace gemma4 {

struct ConvertRequest {
  std::string input;   // a Hugging Face checkpoint folder or a GGUF file
  std::string output;  // the GGUF to write
  // f32, f16, bf16, q8_0, q4_0, q4_k_m, q5_k_m or q6_k. Norms, scalars and the
  // MoE router stay f32 whatever the type; docs/formats.md has the policy.
  std::string type = "bf16";
  std::function<void(size_t done, size_t total, const std::string& tensor)> progress;  // optional
};

struct ConvertSummary {
  size_t tensors = 0;
  uint64_t bytes = 0;
};

// Streams tensor by tensor; throws gemma4::Error naming the file and problem
// (and leaves no partial output behind).
ConvertSummary convert_model(const ConvertRequest& request);

}  // namespace gemma4
