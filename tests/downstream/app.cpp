// Built against the installed gemma4 package by the test suite.
#include <gemma4/gemma4.hpp>

#include <cstdio>
#include <cstring>

int main() {
  if (std::strcmp(gemma4::version(), GEMMA4_VERSION_STRING) != 0) {
    std::fprintf(stderr, "header says %s, library says %s\n", GEMMA4_VERSION_STRING, gemma4::version());
    return 1;
  }
  std::printf("downstream OK: %s\n", gemma4::system_info().c_str());
  return 0;
}
