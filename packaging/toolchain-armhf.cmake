# Cross build for Debian armhf (32-bit Raspberry Pi OS) with Debian's crossbuild-essential-armhf.
# Debian's armhf compiler targets ARMv7 (Raspberry Pi 2 and later, Zero 2 W); ARMv6 boards
# (Pi 1, Zero, Zero W) cannot run its output. See toolchain-common.cmake.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(FIELDGATE_CROSS_TRIPLET arm-linux-gnueabihf)
set(FIELDGATE_QEMU qemu-arm)
# GCC notes on ARM that the passing of some std::vector iterators changed in GCC 7.1; every
# object here and every C++ library it links is built with GCC 12, so the note is noise.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
