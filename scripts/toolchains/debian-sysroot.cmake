# Shared part of the cross toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake):
# Debian's cross compiler for MQTTSN_CROSS_TRIPLET and the target's libraries installed as
# multiarch packages (libfoo-dev:arm64 lands in /usr/lib/aarch64-linux-gnu, next to the host's
# /usr/lib/x86_64-linux-gnu). scripts/cross.sh installs both.
#
# No sysroot: every library the gateway links is Multi-Arch: same, so the target's copies sit in
# the host's /usr beside the host's own. CMake picks the target's from CMAKE_LIBRARY_ARCHITECTURE
# (/usr/lib/<triplet>), and the arch-independent packages (doctest, CLI11, nlohmann-json) are
# shared with the host build.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_CXX_COMPILER ${MQTTSN_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${MQTTSN_CROSS_TRIPLET})

# pkg-config (libuv, libsystemd, OpenSSL) must read the target's .pc files, never the host's.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${MQTTSN_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries run under qemu-user: ctest and doctest_discover_tests (which lists the cases at
# build time) prefix them with this. No -L: the loader and libraries come from the multiarch
# libc6/libstdc++6 packages in /lib/<triplet>, the same ones the .deb depends on. Called
# explicitly, so no binfmt_misc registration is needed (containers often cannot make one).
set(CMAKE_CROSSCOMPILING_EMULATOR ${MQTTSN_CROSS_QEMU})
