# Read by cpack itself when it makes the package (CPACK_PROJECT_CONFIG_FILE), so it applies to
# `cpack` and `cmake --build ... --target package` alike.
#
# A cross build's .deb (CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64 or armhf, packaging.cmake): its
# dependencies come from dpkg-shlibdeps, which by default assumes the package is for the build
# machine. DEB_HOST_ARCH names the target, so it looks for the libraries in the target's
# directories (lib/<triplet>, usr/lib/<triplet>) and reads them with the target's objdump.
if(CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
  set(ENV{DEB_HOST_ARCH} "${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}")
endif()
