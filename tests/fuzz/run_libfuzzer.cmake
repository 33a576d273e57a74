# Builds the libFuzzer targets with clang, ASan and UBSan in their own build
# tree (the "fuzz" preset) and runs each for SECONDS seconds on its corpus.
# Part of the normal test run, so every parser is fuzzed under the sanitizers
# on every CI run. Skipped (exit 77) when clang is not installed.
cmake_policy(SET CMP0009 NEW)
find_program(CLANGXX NAMES clang++ clang++-14)
if(NOT CLANGXX)
  message("clang++ not found: libFuzzer run skipped")
  cmake_language(EXIT 77)
endif()
set(build ${BUILD_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --preset fuzz -B ${build} -DGEMMA4_BUILD_BENCHMARKS=OFF -DGEMMA4_BUILD_CLI=OFF
                WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the fuzz build failed:\n${out}")
endif()
foreach(target IN LISTS TARGETS)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} --target ${target}_fuzzer -j2 RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "building ${target}_fuzzer failed:\n${out}")
  endif()
endforeach()
foreach(target IN LISTS TARGETS)
  set(scratch ${build}/${target}_new_inputs)
  file(REMOVE_RECURSE ${scratch})
  file(MAKE_DIRECTORY ${scratch})
  file(GLOB_RECURSE binary ${build}/tests/${target}_fuzzer)
  execute_process(COMMAND ${binary} -max_total_time=${SECONDS} -timeout=10 ${scratch}
                          ${SOURCE_DIR}/tests/fuzz/corpus/${target}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REGEX MATCH "Done [0-9]+ runs" runs "${out}")
  message("${target}: ${runs}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${target}_fuzzer found a problem:\n${out}")
  endif()
endforeach()
