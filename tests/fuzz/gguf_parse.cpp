// Fuzz target: the GGUF parser on arbitrary bytes, then (for gemma4 files)
// the metadata -> ModelConfig reading and the tensor validation. Any input
// must either load or throw gemma4::Error; a parsed file's tensor views must
// lie inside the input (ASan checks every byte we touch).
#include "src/formats/gguf.hpp"
#include "src/formats/model_config.hpp"

#include <gemma4/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto f = gemma4::formats::GgufFile::parse(bytes, "fuzz.gguf");
    unsigned sum = 0;
    for (const auto& t : f.tensors()) {
      if (!t.data.empty()) sum += static_cast<unsigned>(t.data.front()) + static_cast<unsigned>(t.data.back());
    }
    for (const auto& [key, value] : f.metadata()) sum += static_cast<unsigned>(key.size() + value.value.index());
    (void)sum;
    const auto config = gemma4::formats::config_from_gguf(f);
    (void)gemma4::formats::bind_text_tensors(config, f.tensors(), gemma4::formats::NameScheme::Gguf, f.label());
  } catch (const gemma4::Error&) {
  }
  return 0;
}
