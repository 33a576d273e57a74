#include "src/formats/model_files.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

namespace gemma4::formats {

ModelFiles open_model_files(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  ModelFiles m;
  m.path = path;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    m.source = ModelSource::HuggingFace;
    const fs::path config = path / "config.json";
    if (!fs::is_regular_file(config)) {
      throw Error(fmt::format("{}: not a model folder (no config.json)", path.string()));
    }
    m.config = config_from_hf_file(config);
    m.safetensors = std::make_shared<const SafetensorsModel>(SafetensorsModel::open(path));
    m.all_tensors = m.safetensors->tensors();
    m.text = bind_text_tensors(m.config, m.all_tensors, NameScheme::HuggingFace, path.string());
    return m;
  }
  if (!fs::exists(path, ec)) throw Error(fmt::format("{}: no such file or folder", path.string()));
  m.source = ModelSource::Gguf;
  m.gguf = std::make_shared<const GgufFile>(GgufFile::open(path));
  m.config = config_from_gguf(*m.gguf);
  m.all_tensors = m.gguf->tensors();
  m.text = bind_text_tensors(m.config, m.all_tensors, NameScheme::Gguf, path.string());
  return m;
}

}  // namespace gemma4::formats
