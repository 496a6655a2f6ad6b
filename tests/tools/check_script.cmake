# cmake -DMEMCGCTL=... -DSCRIPT=... -DEXPECT_RC=N -DEXPECT_STDERR=text [-DFORBID_STDOUT=text] -P check_script.cmake
# Runs `memcgctl script SCRIPT` from the script's directory (so messages name
# the file as given) and checks the exit code and a literal text on stderr.
get_filename_component(dir ${SCRIPT} DIRECTORY)
get_filename_component(file ${SCRIPT} NAME)
execute_process(COMMAND ${MEMCGCTL} script ${file} WORKING_DIRECTORY ${dir}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "exit code ${rc}, expected ${EXPECT_RC}\nstdout:\n${out}\nstderr:\n${err}")
endif()
string(FIND "${err}" "${EXPECT_STDERR}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "stderr lacks '${EXPECT_STDERR}'\nstderr:\n${err}")
endif()
if(DEFINED FORBID_STDOUT)
  string(FIND "${out}" "${FORBID_STDOUT}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "stdout has '${FORBID_STDOUT}': the script went on after its failure\n${out}")
  endif()
endif()
message(STATUS "ok: exit ${rc}, stderr: ${err}")
