# Shared part of the cross toolchain files (toolchain-arm64.cmake, toolchain-armhf.cmake): Debian's
# cross compilers (crossbuild-essential-<arch>) and the target's libraries, found through
# pkg-config set up for the target.
#
# The target's -dev packages come from one of two places:
# - FIELDGATE_SYSROOT (what scripts/package does): a directory into which the target's Debian
#   packages were unpacked (dpkg-deb -x), so nothing is installed on the build machine;
# - unset: multiarch packages installed on this machine (apt-get install libmodbus-dev:arm64 ...),
#   in /usr/lib/<triplet> and /usr/include.
# The C library and libstdc++ always come from the cross toolchain (/usr/<triplet>).

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${FIELDGATE_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${FIELDGATE_CROSS_TRIPLET}-g++)

if(NOT DEFINED FIELDGATE_SYSROOT AND DEFINED ENV{FIELDGATE_SYSROOT})
  set(FIELDGATE_SYSROOT "$ENV{FIELDGATE_SYSROOT}")
endif()
# try_compile projects read this file again; they need the sysroot too.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES FIELDGATE_SYSROOT)
set(_root "${FIELDGATE_SYSROOT}")
if(_root AND NOT IS_DIRECTORY "${_root}")
  message(FATAL_ERROR "FIELDGATE_SYSROOT=${_root} is not a directory; scripts/package creates it "
                      "(or leave it unset to use multiarch -dev packages)")
endif()

set(CMAKE_FIND_ROOT_PATH /usr/${FIELDGATE_CROSS_TRIPLET} ${_root})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # build tools run on the build machine
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads only the target's .pc files (never the build machine's) and, for a sysroot,
# prefixes the -I and -L paths it prints with it.
set(ENV{PKG_CONFIG_LIBDIR}
    "${_root}/usr/lib/${FIELDGATE_CROSS_TRIPLET}/pkgconfig:${_root}/usr/share/pkgconfig")
if(_root)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_root}")
  # Headers of the unpacked -dev packages (pkg-config leaves out -I/usr/include, and OpenSSL
  # keeps its configuration.h in the multiarch directory).
  set(CMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES ${_root}/usr/include/${FIELDGATE_CROSS_TRIPLET}
                                             ${_root}/usr/include)
  # The linker must find the libraries our libraries need (libsystemd0 -> liblzma5, ...).
  set(CMAKE_EXE_LINKER_FLAGS_INIT
      "-Wl,-rpath-link,${_root}/usr/lib/${FIELDGATE_CROSS_TRIPLET}:${_root}/lib/${FIELDGATE_CROSS_TRIPLET}")
endif()

# Target programs (the unit tests, `scripts/package --verify`) run here under qemu-user, with
# the cross toolchain's C library and the sysroot's libraries.
if(FIELDGATE_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${FIELDGATE_QEMU} -L /usr/${FIELDGATE_CROSS_TRIPLET}
      -E "LD_LIBRARY_PATH=${_root}/usr/lib/${FIELDGATE_CROSS_TRIPLET}:${_root}/lib/${FIELDGATE_CROSS_TRIPLET}")
endif()
