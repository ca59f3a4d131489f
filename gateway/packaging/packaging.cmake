# Installation and the Debian package (issue 14 §1):
#   cmake --build build --target package   ->   build/mqttsn-gateway_<version>_<arch>.deb
# /usr/bin/mqttsn-gateway and the client tools, /etc/mqttsn-gateway/gateway.json (a conffile,
# configs/debian.json), the systemd unit, the man page; postinst makes the `mqttsn` system user
# and /var/lib/mqttsn-gateway. Dependencies come from dpkg-shlibdeps (Debian's shared libraries).

include(GNUInstallDirs)
set(mqttsn_packaging ${PROJECT_SOURCE_DIR}/gateway/packaging)
set(mqttsn_package_bindir /usr/bin)
set(mqttsn_package_config /etc/mqttsn-gateway/gateway.json)
set(mqttsn_docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/mqttsn-gateway)

install(TARGETS mqttsn-gateway mqttsn-pub mqttsn-sub RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${PROJECT_SOURCE_DIR}/configs/debian.json DESTINATION /etc/mqttsn-gateway
        RENAME gateway.json)

# The unit, twice: as packaged, and one for the build tree (the build's binary and the shipped
# config) that `systemd-analyze verify` checks in the tests (it needs the executables to exist).
set(BINDIR ${mqttsn_package_bindir})
set(CONFIG ${mqttsn_package_config})
configure_file(${mqttsn_packaging}/mqttsn-gateway.service.in
               ${PROJECT_BINARY_DIR}/packaging/mqttsn-gateway.service @ONLY)
set(BINDIR ${CMAKE_RUNTIME_OUTPUT_DIRECTORY})
set(CONFIG ${PROJECT_SOURCE_DIR}/configs/debian.json)
configure_file(${mqttsn_packaging}/mqttsn-gateway.service.in
               ${PROJECT_BINARY_DIR}/packaging/build-tree/mqttsn-gateway.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/mqttsn-gateway.service DESTINATION /lib/systemd/system)

# Man page and changelog, compressed as Debian wants them (gzip -9n: reproducible).
find_program(GZIP_EXECUTABLE gzip REQUIRED)
set(VERSION ${PROJECT_VERSION})
configure_file(${mqttsn_packaging}/changelog ${PROJECT_BINARY_DIR}/packaging/changelog @ONLY)
set(mqttsn_compressed)
foreach(page mqttsn-gateway.1 mqttsn-pub.1 mqttsn-sub.1)
  add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/${page}.gz
                     COMMAND ${GZIP_EXECUTABLE} -9n -c ${mqttsn_packaging}/${page} > packaging/${page}.gz
                     DEPENDS ${mqttsn_packaging}/${page}
                     WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
  list(APPEND mqttsn_compressed ${PROJECT_BINARY_DIR}/packaging/${page}.gz)
endforeach()
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/packaging/changelog.gz
                   COMMAND ${GZIP_EXECUTABLE} -9n -c packaging/changelog > packaging/changelog.gz
                   DEPENDS ${PROJECT_BINARY_DIR}/packaging/changelog
                   WORKING_DIRECTORY ${PROJECT_BINARY_DIR})
add_custom_target(mqttsn_package_docs ALL DEPENDS ${mqttsn_compressed}
                                                  ${PROJECT_BINARY_DIR}/packaging/changelog.gz)
install(FILES ${PROJECT_BINARY_DIR}/packaging/mqttsn-gateway.1.gz
              ${PROJECT_BINARY_DIR}/packaging/mqttsn-pub.1.gz
              ${PROJECT_BINARY_DIR}/packaging/mqttsn-sub.1.gz
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_BINARY_DIR}/packaging/changelog.gz ${mqttsn_packaging}/copyright
        DESTINATION ${mqttsn_docdir})
install(FILES ${PROJECT_SOURCE_DIR}/configs/README.md DESTINATION ${mqttsn_docdir}
        RENAME configuration.md)
# The JSON Schema of the config file, for editors that validate as you type (the gateway carries
# its own copy).
install(FILES ${PROJECT_SOURCE_DIR}/configs/schema.json DESTINATION ${mqttsn_docdir})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mqttsn-gateway)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "mqttsn-gateway maintainers <maintainers@mqttsn-gateway.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "MQTT-SN v1.2 gateway between sensor nodes and an MQTT broker")
string(CONCAT CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Relays MQTT-SN clients on UDP, DTLS, serial lines, XBee radios and\n"
    "Bluetooth to an MQTT 3.1.1 or 5.0 broker, in both directions, with QoS\n"
    "0, 1, 2 and -1, wills, sleeping clients and sessions kept across\n"
    "restarts. Runs as a hardened systemd service.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # mqttsn-gateway_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://localhost/mqttsn-gateway")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# postinst: adduser. (deb-systemd-helper comes with init-system-helpers, which is essential.)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto, mosquitto-clients")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    "${mqttsn_packaging}/conffiles;${mqttsn_packaging}/postinst;${mqttsn_packaging}/prerm;${mqttsn_packaging}/postrm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)  # with the target's strip (CMAKE_STRIP) in a cross build
# A cross build (issue 14 §5, scripts/toolchains/) packages for its target: CPack would otherwise
# take the Architecture from `dpkg --print-architecture`, the build machine's. cpack_project.cmake
# and cpack_sysroot_shlibs.cmake point dpkg-shlibdeps at the target's libraries in the sysroot.
if(CMAKE_CROSSCOMPILING)
  if(MQTTSN_DEBIAN_ARCH)
    set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${MQTTSN_DEBIAN_ARCH})
  else()
    message(WARNING "cross build without MQTTSN_DEBIAN_ARCH (set by scripts/toolchains/*.cmake): "
                    "the .deb would be labelled with the build machine's architecture")
  endif()
  if(MQTTSN_SYSROOT)
    set(CPACK_MQTTSN_SYSROOT_PACKAGES ${MQTTSN_SYSROOT}/packages)
    set(CPACK_PRE_BUILD_SCRIPTS ${mqttsn_packaging}/cpack_sysroot_shlibs.cmake)
  endif()
endif()
set(CPACK_PROJECT_CONFIG_FILE ${mqttsn_packaging}/cpack_project.cmake)
include(CPack)
