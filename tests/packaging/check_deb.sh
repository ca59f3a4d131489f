#!/usr/bin/env bash
# Checks what the .deb holds: the binaries (built for the package's architecture), the conffile,
# the unit, the man pages, the maintainer scripts, Debian shared-library dependencies; and that
# lintian finds nothing (run where lintian is installed: scripts/test.sh installs it).
#   check_deb.sh BUILD_DIR/CPackConfig.cmake   builds the .deb with CPack into a scratch directory
#   check_deb.sh FILE.deb [EMULATOR...]        checks a built one; for a cross build's, EMULATOR is
#                                              the command that runs its binaries (scripts/cross.sh:
#                                              qemu-aarch64-static -L SYSROOT)
set -euo pipefail
input=${1:?usage: check_deb.sh BUILD_DIR/CPackConfig.cmake | FILE.deb [EMULATOR...]}
shift
emulator=("$@")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [[ $input == *.deb ]]; then
  deb=$input
else
  cpack --config "$input" -B "$work" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; exit 1; }
  deb=$(ls "$work"/mqttsn-gateway_*_"$(dpkg --print-architecture)".deb)
  echo "built $(basename "$deb")"
fi
fail=0
# The binaries are for the Architecture the package claims (a cross build must not package the
# build machine's, nor label its own with the build machine's architecture). armhf: 32-bit ARM
# with the hard-float ABI, which `file` does not show but the ELF header flags do.
arch=$(dpkg-deb -f "$deb" Architecture)
case $arch in
  amd64) machine='x86-64' ;;
  arm64) machine='ARM aarch64' ;;
  armhf) machine='32-bit LSB .* ARM, EABI5' ;;
  *) machine="unknown architecture $arch" ;;
esac
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/mqttsn-gateway ./usr/bin/mqttsn-pub ./usr/bin/mqttsn-sub \
            ./etc/mqttsn-gateway/gateway.json ./lib/systemd/system/mqttsn-gateway.service \
            ./usr/share/man/man1/mqttsn-gateway.1.gz ./usr/share/doc/mqttsn-gateway/copyright \
            ./usr/share/doc/mqttsn-gateway/changelog.gz ./usr/share/doc/mqttsn-gateway/schema.json; do
  grep -qxF "$path" <<<"$contents" || { echo "missing: $path"; fail=1; }
done
dpkg-deb -e "$deb" "$work/control"
grep -qxF /etc/mqttsn-gateway/gateway.json "$work/control/conffiles" ||
  { echo "gateway.json is not a conffile"; fail=1; }
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] || { echo "no executable $script"; fail=1; }
done
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for lib in libpaho-mqttpp3-1 libuv1 libssl3 libsystemd0 libsqlite3-0 adduser; do
  grep -q "$lib" <<<"$depends" || { echo "Depends lacks $lib"; fail=1; }
done
# The packaged config is the one the unit names, and it is valid.
dpkg-deb -x "$deb" "$work/root"
grep -q -- '--config /etc/mqttsn-gateway/gateway.json' "$work/root/lib/systemd/system/mqttsn-gateway.service" ||
  { echo "the unit does not run /etc/mqttsn-gateway/gateway.json"; fail=1; }
for binary in mqttsn-gateway mqttsn-pub mqttsn-sub; do
  described=$(file -b "$work/root/usr/bin/$binary")
  grep -qE "$machine" <<<"$described" || { echo "$binary is not $arch: $described"; fail=1; }
  if [ "$arch" = armhf ] && ! readelf -h "$work/root/usr/bin/$binary" | grep -q 'hard-float ABI'; then
    echo "$binary is not hard-float"
    fail=1
  fi
done
echo "usr/bin/mqttsn-gateway: $(file -b "$work/root/usr/bin/mqttsn-gateway" | cut -d, -f1-3)"
"${emulator[@]}" "$work/root/usr/bin/mqttsn-gateway" --check-config \
  "$work/root/etc/mqttsn-gateway/gateway.json" || fail=1
if command -v lintian >/dev/null; then
  # --allow-root: CI runs as root; lintian only reads the file.
  out=$(lintian --allow-root "$deb" 2>&1) || true
  if [ -n "$out" ]; then echo "lintian:"; echo "$out"; fail=1; else echo "lintian: clean"; fi
else
  echo "lintian is not installed: the package was not linted"; fail=1
fi
exit "$fail"
