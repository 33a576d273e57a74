#include "src/model/loader.hpp"

#include <gemma4/error.hpp>

#include <fmt/format.h>

namespace gemma4::model {

std::unique_ptr<LoadedModel> load_model(const std::filesystem::path& path) {
  auto m = std::make_unique<LoadedModel>();
  m->path = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(fmt::format("{}: no such file or folder", path.string()));
  if (std::filesystem::is_directory(path, ec)) {
    m->config = formats::config_from_hf_file(path / "config.json");
    m->safetensors.emplace(formats::SafetensorsModel::open(path));
    m->tensors = formats::bind_text_tensors(m->config, m->safetensors->tensors(), formats::NameScheme::HuggingFace,
                                            path.string());
  } else {
    m->gguf.emplace(formats::GgufFile::open(path));
    m->config = formats::config_from_gguf(*m->gguf);
    m->tensors = formats::bind_text_tensors(m->config, m->gguf->tensors(), formats::NameScheme::Gguf, path.string());
  }
  ModelPlan plan = make_plan(m->config);
  const auto& tensors = m->tensors;
  Weights weights = bind_weights(plan, [&tensors](std::string_view name) -> const formats::TensorView* {
    auto it = tensors.find(std::string(name));
    return it == tensors.end() ? nullptr : &it->second;
  });
  m->decoder = std::make_unique<Decoder>(std::move(plan), std::move(weights));
  return m;
}

}  // namespace gemma4::model
