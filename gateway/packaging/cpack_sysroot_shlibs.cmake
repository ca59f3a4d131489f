# CPACK_PRE_BUILD_SCRIPTS of a cross build (packaging.cmake). CPack runs it once the files are
# staged in CPACK_TEMPORARY_DIRECTORY, where the DEB generator then runs dpkg-shlibdeps.
#
# The target's libraries are in the sysroot, in no dpkg database, so dpkg-shlibdeps cannot look
# their packages up there. But it takes every debian/<package>/ beside it as a package built
# alongside: it searches that tree for the libraries first and derives the dependency from its
# DEBIAN/symbols (else DEBIAN/shlibs), as for the installed package. scripts/cross.sh extracts
# each sysroot package with its control files to CPACK_MQTTSN_SYSROOT_PACKAGES/<name>/; linked
# here, the Depends come out as they would from installed :arm64/:armhf packages. The DEB
# generator removes debian/ (the links, not what they point to) when it is done.
file(GLOB packages LIST_DIRECTORIES true "${CPACK_MQTTSN_SYSROOT_PACKAGES}/*")
if(NOT packages)
  message(FATAL_ERROR "no sysroot packages in '${CPACK_MQTTSN_SYSROOT_PACKAGES}' for dpkg-shlibdeps")
endif()
file(MAKE_DIRECTORY "${CPACK_TEMPORARY_DIRECTORY}/debian")
foreach(dir IN LISTS packages)
  get_filename_component(name "${dir}" NAME)
  file(CREATE_LINK "${dir}" "${CPACK_TEMPORARY_DIRECTORY}/debian/${name}" SYMBOLIC)
endforeach()
