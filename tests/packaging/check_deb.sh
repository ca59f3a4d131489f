#!/usr/bin/env bash
# Builds the .deb with CPack into a scratch directory and checks what it holds: the binaries, the
# conffile, the unit, the man pages, the maintainer scripts, Debian shared-library dependencies;
# and that lintian finds nothing (run where lintian is installed: scripts/test.sh installs it).
set -euo pipefail
config=${1:?usage: check_deb.sh BUILD_DIR/CPackConfig.cmake}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cpack --config "$config" -B "$work" >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; exit 1; }
deb=$(ls "$work"/mqttsn-gateway_*_"$(dpkg --print-architecture)".deb)
echo "built $(basename "$deb")"
fail=0
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
"$work/root/usr/bin/mqttsn-gateway" --check-config "$work/root/etc/mqttsn-gateway/gateway.json" || fail=1
if command -v lintian >/dev/null; then
  # --allow-root: CI runs as root; lintian only reads the file.
  out=$(lintian --allow-root "$deb" 2>&1) || true
  if [ -n "$out" ]; then echo "lintian:"; echo "$out"; fail=1; else echo "lintian: clean"; fi
else
  echo "lintian is not installed: the package was not linted"; fail=1
fi
exit "$fail"
