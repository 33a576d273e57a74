# Runs CMD with ARGS (a ;-list) and checks its exit code and combined output.
# EXPECT_RC: "0", "nonzero" or an exact number. EXPECT_OUTPUT: a regex the output must match.
# STDIN_FILE: optional file fed to standard input.
separate_arguments(arg_list UNIX_COMMAND "${ARGS}")
if(DEFINED STDIN_FILE)
  execute_process(COMMAND ${CMD} ${arg_list} INPUT_FILE ${STDIN_FILE} RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out TIMEOUT 300)
else()
  execute_process(COMMAND ${CMD} ${arg_list} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out TIMEOUT 300)
endif()
message("exit code: ${rc}\noutput:\n${out}")
if(EXPECT_RC STREQUAL "nonzero")
  if(rc EQUAL 0 OR NOT rc MATCHES "^[0-9]+$")
    message(FATAL_ERROR "expected a clean non-zero exit code, got '${rc}'")
  endif()
elseif(DEFINED EXPECT_RC AND NOT rc STREQUAL EXPECT_RC)
  message(FATAL_ERROR "expected exit code ${EXPECT_RC}, got '${rc}'")
endif()
if(DEFINED EXPECT_OUTPUT AND NOT out MATCHES "${EXPECT_OUTPUT}")
  message(FATAL_ERROR "output does not match '${EXPECT_OUTPUT}'")
endif()
