# Read by cpack itself when it makes the package (CPACK_PROJECT_CONFIG_FILE), so it applies to
# `cpack` and `cmake --build ... --target package` alike.
#
# A cross build's .deb (CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64 or armhf, packaging.cmake): the
# dependency list comes from dpkg-shlibdeps, which by default assumes the package is for the
# build machine. DEB_HOST_ARCH tells it the target, so it looks up the libraries in
# /usr/lib/<target triplet> (the :arm64/:armhf multiarch packages scripts/cross.sh installs) and
# reads them with the target's objdump. Without it, it finds them only through ld.so.conf.d.
if(CPACK_DEBIAN_PACKAGE_ARCHITECTURE)
  set(ENV{DEB_HOST_ARCH} "${CPACK_DEBIAN_PACKAGE_ARCHITECTURE}")
endif()
