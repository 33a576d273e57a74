// The single error type of the library. Every failure caused by user input
// (a file, a flag, a prompt) is reported by throwing gemma4::Error with a
// message that names the problem: the file, the tensor, the field.
#pragma once

#include <stdexcept>
#include <string>

namespace gemma4 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace gemma4
