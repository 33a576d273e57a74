# Every dependency comes from a Debian package (tools/install-deps.sh) and is
# found here; nothing is downloaded at build time.
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(xsimd 8 REQUIRED)
find_package(PkgConfig REQUIRED)
# Debian's sentencepiece ships a pkg-config file but no CMake package.
pkg_check_modules(sentencepiece REQUIRED IMPORTED_TARGET GLOBAL sentencepiece)
if(GEMMA4_BUILD_CLI)
  find_package(CLI11 REQUIRED)
endif()
if(GEMMA4_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(GEMMA4_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()
