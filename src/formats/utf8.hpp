// UTF-8 validation for names read from model files (tensor names, keys).
#pragma once

#include <string_view>

namespace gemma4::formats {

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace gemma4::formats
