# Fails when a C++ file of ours differs from what clang-format (with the repo's
# .clang-format) would write. Skipped (exit code 77) when clang-format is absent.
find_program(CLANG_FORMAT NAMES clang-format clang-format-14)
if(NOT CLANG_FORMAT)
  message("clang-format not found: format check skipped")
  cmake_language(EXIT 77)
endif()
file(GLOB_RECURSE files RELATIVE ${ROOT} ${ROOT}/include/*.hpp ${ROOT}/src/*.cpp ${ROOT}/src/*.hpp
     ${ROOT}/kernels/*.cpp ${ROOT}/kernels/*.hpp ${ROOT}/kernels/*.cu ${ROOT}/tools/*.cpp ${ROOT}/tools/*.hpp
     ${ROOT}/tests/*.cpp ${ROOT}/tests/*.hpp)
set(bad "")
foreach(f IN LISTS files)
  execute_process(COMMAND ${CLANG_FORMAT} --style=file --dry-run --Werror ${ROOT}/${f} WORKING_DIRECTORY ${ROOT}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND bad ${f})
  endif()
endforeach()
list(LENGTH files n)
if(bad)
  list(JOIN bad "\n  " msg)
  message(FATAL_ERROR "not clang-formatted (run clang-format -i on them):\n  ${msg}")
endif()
message("checked ${n} files: formatted")
