// Opens whatever a user points at: a GGUF file or a Hugging Face checkpoint
// folder (config.json + safetensors), and returns the one ModelConfig with
// the validated text-decoder tensors. The files stay mapped while this lives.
#pragma once

#include "src/formats/gguf.hpp"
#include "src/formats/model_config.hpp"
#include "src/formats/safetensors.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace gemma4::formats {

enum class ModelSource { Gguf, HuggingFace };

struct ModelFiles {
  ModelSource source = ModelSource::Gguf;
  std::filesystem::path path;
  ModelConfig config;
  std::vector<TensorView> all_tensors;     // everything in the files, towers included
  std::map<std::string, TensorView> text;  // validated decoder tensors by HF name (no prefix)
  std::shared_ptr<const GgufFile> gguf;    // set for GGUF sources (metadata: tokenizer, template)
  std::shared_ptr<const SafetensorsModel> safetensors;
};

// Throws gemma4::Error naming the path and the problem (missing file,
// unsupported architecture, corrupt data, tensors not matching the config).
ModelFiles open_model_files(const std::filesystem::path& path);

}  // namespace gemma4::formats
