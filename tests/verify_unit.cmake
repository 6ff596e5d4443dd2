# Runs `systemd-analyze verify` on the unit with ExecStart pointed at the binary just built (the
# installed path /usr/bin/fieldgate does not exist on a build machine); fails on any complaint.
file(READ ${UNIT} text)
string(REPLACE "/usr/bin/fieldgate" "${BINARY}" text "${text}")
file(WRITE ${WORK}/fieldgate.service "${text}")
execute_process(COMMAND ${SYSTEMD_ANALYZE} verify ${WORK}/fieldgate.service
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT "${out}${err}" STREQUAL "")
  message(FATAL_ERROR "systemd-analyze verify fieldgate.service:\n${out}${err}")
endif()
