// Fuzz target: the safetensors header parser, the index parser and the
// config.json reader on the same arbitrary bytes. Each must parse or throw
// gemma4::Error, nothing else.
#include "src/formats/model_config.hpp"
#include "src/formats/safetensors.hpp"

#include <gemma4/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto h = gemma4::formats::parse_safetensors_header(bytes, "fuzz.safetensors");
    size_t sum = 0;
    for (const auto& t : h.tensors) {
      // Touch the first and last byte of each tensor: ASan flags any view outside the input.
      if (t.end > t.begin)
        sum +=
            static_cast<size_t>(bytes[h.data_start + t.begin]) + static_cast<size_t>(bytes[h.data_start + t.end - 1]);
    }
    (void)sum;
  } catch (const gemma4::Error&) {
  }
  try {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    (void)gemma4::formats::parse_safetensors_index(text, "fuzz.index.json");
  } catch (const gemma4::Error&) {
  }
  try {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto config = gemma4::formats::config_from_hf_json(text, "fuzz.config.json");
    // Shapes must be computable for any accepted config.
    (void)gemma4::formats::expected_tensors(config);
  } catch (const gemma4::Error&) {
  }
  return 0;
}
