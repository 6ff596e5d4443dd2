# The fieldgate .deb (CPack DEB generator), included at the end of the top-level CMakeLists.txt.
# scripts/package builds it for amd64, arm64 and armhf; tests/package_deb.cmake checks it.
#
# The files only a package installs (starter config, systemd unit, sysusers entry) are in the
# install component "deb", left out of a plain `cmake --install` so that installing from source
# never overwrites /etc/fieldgate/fieldgate.toml; the package installs both components.

install(FILES ${CMAKE_CURRENT_LIST_DIR}/fieldgate.toml DESTINATION /etc/fieldgate
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/fieldgate.service DESTINATION /lib/systemd/system
        COMPONENT deb EXCLUDE_FROM_ALL)
# The state directory (fieldgate.db); the postinst gives it to the user fieldgate.
install(DIRECTORY DESTINATION /var/lib/fieldgate COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/docs/fieldgate.example.toml DESTINATION share/doc/fieldgate
        COMPONENT deb EXCLUDE_FROM_ALL)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/fieldgate.sysusers DESTINATION lib/sysusers.d
        RENAME fieldgate.conf COMPONENT deb EXCLUDE_FROM_ALL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME fieldgate)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "fieldgate maintainers <fieldgate@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "IoT gateway: Modbus devices to MQTT, with a built-in MQTT broker")
set(CPACK_PACKAGE_DESCRIPTION
    "fieldgate turns a Raspberry Pi or an industrial PC into an IoT gateway: it polls Modbus TCP \
and RTU devices, publishes their values as MQTT messages and serves them from its own MQTT \
3.1.1/5.0 broker (TCP, TLS, WebSockets) with persistent sessions in SQLite. One TOML file \
configures it; it runs as a hardened systemd service.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};fieldgate;ALL;/"
                                 "${CMAKE_BINARY_DIR};fieldgate;deb;/")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/dist)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # fieldgate_0.1.0_arm64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE https://github.com/fieldgate/fieldgate)
# Depends from dpkg-shlibdeps: the libraries the binary really links, with the minimum versions
# their symbols files require. A cross build sets DEB_HOST_ARCH and gives dpkg-shlibdeps the
# target's library packages (scripts/package).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# The postinst creates the user with systemd-sysusers (as debhelper's dh_installsysusers does).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "systemd | systemd-standalone-sysusers | systemd-sysusers")
# Cross builds: CMAKE_SYSTEM_PROCESSOR names the target; Debian calls it differently.
if(CMAKE_CROSSCOMPILING)
  if(CMAKE_SYSTEM_PROCESSOR STREQUAL "aarch64")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
  elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^arm")
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE armhf)
  else()
    message(FATAL_ERROR "packaging/cpack.cmake: no Debian architecture known for "
                        "CMAKE_SYSTEM_PROCESSOR ${CMAKE_SYSTEM_PROCESSOR}; set "
                        "CPACK_DEBIAN_PACKAGE_ARCHITECTURE in packaging/cpack.cmake")
  endif()
endif()
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
