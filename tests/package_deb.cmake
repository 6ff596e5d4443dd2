# Builds the .deb from the build tree BUILD with CPack into WORK and checks it with dpkg-deb:
# the installed paths (SPEC.md "Files when installed"), the conffile, a Depends from
# dpkg-shlibdeps that names libmodbus, the maintainer scripts; then the packaged binary runs
# `check` on the packaged starter config.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(fail)
  string(JOIN "" text ${ARGN})
  message(FATAL_ERROR "package_deb: ${text}")
endfunction()

function(run out_var)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(JOIN " " cmd ${ARGN})
    fail("`${cmd}` failed (${rc}):\n${out}${err}")
  endif()
  set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# The project's CPack settings, with the package written into WORK (so that this test and
# scripts/package never share an output directory).
file(WRITE ${WORK}/CPackConfig.cmake
     "include(${BUILD}/CPackConfig.cmake)\nset(CPACK_PACKAGE_DIRECTORY ${WORK}/out)\n")
run(ignored ${CPACK} -G DEB --config ${WORK}/CPackConfig.cmake)
file(GLOB debs ${WORK}/out/fieldgate_*.deb)
list(LENGTH debs count)
if(NOT count EQUAL 1)
  fail("expected one fieldgate_*.deb in ${WORK}/out, found: ${debs}")
endif()
set(deb ${debs})

run(listing ${DPKG_DEB} --contents ${deb})
foreach(path ./usr/bin/fieldgate ./etc/fieldgate/fieldgate.toml
             ./lib/systemd/system/fieldgate.service ./usr/lib/sysusers.d/fieldgate.conf
             ./var/lib/fieldgate/)
  string(FIND "${listing}" " ${path}\n" at)
  if(at EQUAL -1)
    fail("${deb} lacks ${path}; it holds:\n${listing}")
  endif()
endforeach()

foreach(field Package Version Architecture Maintainer Description Section Homepage)
  run(value ${DPKG_DEB} --field ${deb} ${field})
  if(value STREQUAL "")
    fail("${deb}: control field ${field} is empty")
  endif()
endforeach()
run(depends ${DPKG_DEB} --field ${deb} Depends)
foreach(package libc6 libmodbus5 libssl3 libsqlite3-0 libsystemd0 libtomlplusplus3)
  if(NOT depends MATCHES "(^|, )${package}( |,|\n|$)")
    fail("${deb}: Depends lacks ${package} (dpkg-shlibdeps): ${depends}")
  endif()
endforeach()
if(NOT depends MATCHES "systemd-sysusers")
  fail("${deb}: Depends lacks systemd-sysusers (the postinst runs it): ${depends}")
endif()

run(ignored ${DPKG_DEB} --control ${deb} ${WORK}/control)
file(READ ${WORK}/control/conffiles conffiles)
if(NOT conffiles STREQUAL "/etc/fieldgate/fieldgate.toml\n")
  fail("${deb}: conffiles should list /etc/fieldgate/fieldgate.toml only, has:\n${conffiles}")
endif()
foreach(script postinst prerm postrm)
  if(NOT EXISTS ${WORK}/control/${script})
    fail("${deb}: no ${script} maintainer script")
  endif()
  run(ignored test -x ${WORK}/control/${script})
  run(ignored sh -n ${WORK}/control/${script})
endforeach()
file(READ ${WORK}/control/postinst postinst)
foreach(needle "systemd-sysusers" "deb-systemd-helper enable 'fieldgate.service'"
               "deb-systemd-invoke" "/var/lib/fieldgate")
  string(FIND "${postinst}" "${needle}" at)
  if(at EQUAL -1)
    fail("${deb}: postinst does not contain `${needle}`")
  endif()
endforeach()
file(READ ${WORK}/control/postrm postrm)
string(FIND "${postrm}" "rm -rf /var/lib/fieldgate" at)
if(at EQUAL -1)
  fail("${deb}: postrm does not remove /var/lib/fieldgate on purge")
endif()

# The packaged binary accepts the packaged starter config.
run(ignored ${DPKG_DEB} --extract ${deb} ${WORK}/root)
run(summary ${WORK}/root/usr/bin/fieldgate check -c ${WORK}/root/etc/fieldgate/fieldgate.toml)
if(NOT summary MATCHES "127\\.0\\.0\\.1:1883")
  fail("the starter config should listen on 127.0.0.1:1883 only; check says:\n${summary}")
endif()
message(STATUS "package_deb: ${deb} OK\nDepends: ${depends}")
