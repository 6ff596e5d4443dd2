# Fails listing every C++ file that clang-format would change.
file(GLOB_RECURSE sources RELATIVE ${ROOT}
     ${ROOT}/adapters/*.cpp ${ROOT}/adapters/*.h ${ROOT}/bench/*.cpp ${ROOT}/bench/*.h
     ${ROOT}/broker/*.cpp ${ROOT}/broker/*.h ${ROOT}/common/*.cpp ${ROOT}/common/*.h
     ${ROOT}/config/*.cpp ${ROOT}/config/*.h ${ROOT}/gateway/*.cpp ${ROOT}/gateway/*.h
     ${ROOT}/mapping/*.cpp ${ROOT}/mapping/*.h ${ROOT}/tests/*.cpp ${ROOT}/tests/*.h)
set(unformatted "")
foreach(source ${sources})
  execute_process(COMMAND ${CLANG_FORMAT} --dry-run --Werror ${ROOT}/${source}
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
  if(NOT rc EQUAL 0)
    list(APPEND unformatted ${source})
  endif()
endforeach()
if(unformatted)
  list(JOIN unformatted "\n  " listing)
  message(FATAL_ERROR "not clang-formatted (run clang-format -i on them):\n  ${listing}")
endif()
