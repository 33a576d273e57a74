#include <gemma4/version.hpp>

namespace gemma4 {

const char* version() {
  return GEMMA4_VERSION_STRING;
}

}  // namespace gemma4
