# Debian arm64 (64-bit ARMv8: Raspberry Pi 3/4/5 and most industrial boards with a 64-bit OS).
# Preset cross-arm64; scripts/cross.sh arm64 installs the compiler and makes the sysroot.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(MQTTSN_CROSS_TRIPLET aarch64-linux-gnu)
set(MQTTSN_CROSS_QEMU qemu-aarch64-static)
set(MQTTSN_DEBIAN_ARCH arm64)  # the .deb's Architecture (gateway/packaging/packaging.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/debian-sysroot.cmake)
