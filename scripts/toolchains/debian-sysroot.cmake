# Shared part of the cross toolchain files (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake):
# Debian's cross compiler for MQTTSN_CROSS_TRIPLET (crossbuild-essential-<arch>) and a sysroot of
# the target's Debian packages in MQTTSN_SYSROOT (the presets: build-cross-<arch>/sysroot).
#
# scripts/cross.sh makes the sysroot: apt resolves the target's -dev packages (libuv1-dev:arm64,
# ...) with a private state of its own, downloads them and dpkg-deb extracts them into
# MQTTSN_SYSROOT/root. Nothing is installed on the build machine for the target, so nothing there
# changes: no `dpkg --add-architecture`, no Multi-Arch: same pair that forces the host's copy to
# the target's version (or, for a package that is not Multi-Arch: same, removes the host's), and
# a target architecture whose index lags the host's (security updates are built per architecture)
# cannot hold the host's packages back.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_CXX_COMPILER ${MQTTSN_CROSS_TRIPLET}-g++)
set(CMAKE_LIBRARY_ARCHITECTURE ${MQTTSN_CROSS_TRIPLET})

# try_compile projects read this file again in a build tree of their own: hand them the sysroot.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES MQTTSN_SYSROOT)
if(NOT MQTTSN_SYSROOT OR NOT EXISTS "${MQTTSN_SYSROOT}/root/usr/include")
  message(FATAL_ERROR "no target sysroot in '${MQTTSN_SYSROOT}': scripts/cross.sh "
                      "${MQTTSN_DEBIAN_ARCH} makes it")
endif()
set(CMAKE_SYSROOT ${MQTTSN_SYSROOT}/root)
# Libraries, headers and CMake packages (also the arch-independent ones: doctest, CLI11,
# nlohmann-json) come from the sysroot only, never from the build machine's /usr; programs
# (pkg-config, the compiler's tools) from the build machine.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config (libuv, libsystemd) reads the target's .pc files and prefixes their paths.
set(ENV{PKG_CONFIG_SYSROOT_DIR} ${CMAKE_SYSROOT})
set(ENV{PKG_CONFIG_LIBDIR}
    "${CMAKE_SYSROOT}/usr/lib/${MQTTSN_CROSS_TRIPLET}/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries run under qemu-user with the sysroot as their root (-L: its loader, libc,
# libstdc++ and the libraries the .deb depends on): ctest and doctest_discover_tests (which lists
# the cases at build time) prefix them with this. Called explicitly, so no binfmt_misc
# registration is needed (containers often cannot make one).
set(CMAKE_CROSSCOMPILING_EMULATOR ${MQTTSN_CROSS_QEMU} -L ${CMAKE_SYSROOT})
