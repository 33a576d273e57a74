// Opens a model the way a user names it — a GGUF file or a Hugging Face
// checkpoint folder — and builds the decoder over its memory-mapped weights.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "src/formats/gguf.hpp"
#include "src/formats/model_config.hpp"
#include "src/formats/safetensors.hpp"
#include "src/model/decoder.hpp"

namespace gemma4::model {

struct LoadedModel {
  std::filesystem::path path;
  std::optional<formats::GgufFile> gguf;                 // set for a .gguf file
  std::optional<formats::SafetensorsModel> safetensors;  // set for a checkpoint folder
  formats::ModelConfig config;
  std::map<std::string, formats::TensorView> tensors;  // text-decoder tensors by HF name
  std::unique_ptr<Decoder> decoder;
};

// Throws gemma4::Error naming the path and the problem (missing file, not a
// model, unsupported architecture, missing or misshapen tensor).
std::unique_ptr<LoadedModel> load_model(const std::filesystem::path& path);

}  // namespace gemma4::model
