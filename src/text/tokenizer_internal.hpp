// Helpers shared by the tokenizer's core and its three loaders.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace gemma4::text::detail {

// Length of the well-formed UTF-8 character starting at s[pos], or 0 when the
// bytes there are ill-formed (stray continuation byte, truncated or overlong
// sequence, surrogate, code point past U+10FFFF). Strict, like Python and Rust.
inline std::size_t utf8_char_length(std::string_view s, std::size_t pos) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(s[i]); };
  const std::size_t left = s.size() - pos;
  const std::uint8_t b0 = byte(pos);
  if (b0 < 0x80) return 1;
  const auto cont = [&](std::size_t i) { return (byte(pos + i) & 0xC0) == 0x80; };
  if (b0 >= 0xC2 && b0 <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (left < 3 || !cont(1) || !cont(2)) return 0;
    const std::uint8_t b1 = byte(pos + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
    const std::uint8_t b1 = byte(pos + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // past U+10FFFF
    return 4;
  }
  return 0;
}

inline bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_char_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// "<0x41>" -> 0x41; -1 when the piece is not a byte token's name. Upper-case
// hex digits only, as SentencePiece and `tokenizers` write them.
inline int byte_token_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const auto hex = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// The whole file as bytes; gemma4::Error naming the file when it cannot be read.
std::string read_tokenizer_file(const std::filesystem::path& path);

}  // namespace gemma4::text::detail
