# Cross build for Debian arm64 (Raspberry Pi OS 64-bit, arm64 industrial PCs) with Debian's
# crossbuild-essential-arm64. See toolchain-common.cmake; scripts/package arm64 uses it.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(FIELDGATE_CROSS_TRIPLET aarch64-linux-gnu)
set(FIELDGATE_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
