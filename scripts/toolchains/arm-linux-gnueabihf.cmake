# Debian armhf (32-bit ARMv7 with VFPv3-D16, hard-float ABI: Debian's armhf port on a Raspberry
# Pi 2 or later, a BeagleBone, i.MX6 boards). Not ARMv6 (Pi 1, Zero): Debian's armhf baseline is
# ARMv7. Preset cross-armhf; scripts/cross.sh armhf installs the compiler and makes the sysroot.
set(CMAKE_SYSTEM_PROCESSOR armv7l)
set(MQTTSN_CROSS_TRIPLET arm-linux-gnueabihf)
set(MQTTSN_CROSS_QEMU qemu-arm-static)
set(MQTTSN_DEBIAN_ARCH armhf)  # the .deb's Architecture (gateway/packaging/packaging.cmake)
include(${CMAKE_CURRENT_LIST_DIR}/debian-sysroot.cmake)
