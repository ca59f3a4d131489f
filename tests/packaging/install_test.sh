#!/usr/bin/env bash
# Installs the .deb into a fresh Debian bookworm root and runs it there (issue 14 §1). Needs root.
#   tests/packaging/install_test.sh build/mqttsn-gateway_<version>_<arch>.deb
# The root: a copy of $FRESH_ROOT (../shared/tools/fresh-machine.sh caches one at
# /var/tmp/fresh/root), else a new `debootstrap --variant=minbase bookworm`. apt-get installs the
# package with its dependencies from the mirror, and mosquitto. Checked: the files, the conffile,
# the `mqttsn` user and its groups, /var/lib/mqttsn-gateway; then, in a network namespace of its
# own (its own loopback: nothing of the host's is touched), the packaged binary with the
# packaged config, as the mqttsn user, relays an MQTT-SN PUBLISH from the packaged mqttsn-pub to
# mosquitto, and keeps its session store in /var/lib/mqttsn-gateway.
set -euo pipefail
deb=$(realpath "${1:?usage: install_test.sh PACKAGE.deb}")
[ "$(id -u)" -eq 0 ] || { echo "install_test.sh needs root (chroot, mount, unshare)"; exit 2; }
unshare --net true 2>/dev/null ||
  { echo "SKIPPED: this machine cannot make a network namespace (unshare --net)"; exit 77; }
pristine=${FRESH_ROOT:-/var/tmp/fresh/root}
work=$(mktemp -d /var/tmp/mqttsn-install.XXXXXX)
root=$work/root
cleanup() {
  for m in dev proc; do umount -l "$root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ -x "$pristine/bin/bash" ]; then
  cp -a "$pristine" "$root"
else
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list)
  command -v debootstrap >/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  echo "==> debootstrap bookworm (minbase) from $mirror"
  # A machine that cannot make a Debian root cannot run this test: exit 77, reported as skipped
  # with the reason (scripts/test.sh), not as a failure of the package.
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log"; echo "SKIPPED: debootstrap failed on this machine"; exit 77; }
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No service starts inside the root (mosquitto's postinst would try): policy-rc.d says no.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cp "$deb" "$root/tmp/"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }

echo "==> apt-get install ./$(basename "$deb") mosquitto mosquitto-clients"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends "/tmp/$(basename "$deb")" mosquitto \
  mosquitto-clients >"$work/apt.log" 2>&1 || { tail -n 30 "$work/apt.log"; exit 1; }

fail=0
check() {  # check WHAT COMMAND...: runs COMMAND in the root
  local what=$1
  shift
  if in_root "$@" >/dev/null 2>&1; then echo "ok: $what"; else echo "FAILED: $what"; fail=1; fi
}
check "/usr/bin/mqttsn-gateway, mqttsn-pub, mqttsn-sub are installed" \
  sh -c 'test -x /usr/bin/mqttsn-gateway && test -x /usr/bin/mqttsn-pub && test -x /usr/bin/mqttsn-sub'
check "/etc/mqttsn-gateway/gateway.json is a conffile" \
  sh -c "dpkg-query -W -f='\${Conffiles}' mqttsn-gateway | grep -q /etc/mqttsn-gateway/gateway.json"
check "the config is readable by group mqttsn only" \
  sh -c 'test "$(stat -c %a:%G /etc/mqttsn-gateway/gateway.json)" = 640:mqttsn'
check "the unit is installed and enabled" \
  sh -c 'test -f /lib/systemd/system/mqttsn-gateway.service && test -L /etc/systemd/system/multi-user.target.wants/mqttsn-gateway.service'
check "the man page is installed" test -f /usr/share/man/man1/mqttsn-gateway.1.gz
check "system user mqttsn exists, in group dialout" \
  sh -c 'getent passwd mqttsn && id -nG mqttsn | grep -qw dialout && test "$(id -u mqttsn)" -lt 1000'
check "/var/lib/mqttsn-gateway belongs to mqttsn" \
  sh -c 'test "$(stat -c %U:%a /var/lib/mqttsn-gateway)" = mqttsn:750'
check "the packaged config validates" /usr/bin/mqttsn-gateway --check-config /etc/mqttsn-gateway/gateway.json

echo "==> the packaged gateway with the packaged config, in a network namespace of its own"
cat >"$root/tmp/run.sh" <<'RUN'
set -u
mosquitto -p 1883 >/tmp/mosquitto.log 2>&1 &
broker=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
setpriv --reuid=mqttsn --regid=mqttsn --init-groups /usr/bin/mqttsn-gateway --config /etc/mqttsn-gateway/gateway.json \
  >/tmp/gateway.log 2>&1 &
gateway=$!
for _ in $(seq 100); do grep -q "running" /tmp/gateway.log && break; sleep 0.1; done
mosquitto_sub -h 127.0.0.1 -t 'demo/#' -v -C 1 -W 10 >/tmp/sub.out &
sub=$!
sleep 0.5
mqttsn-pub -t demo/package -m installed -q 1 -i package-test
wait "$sub"
status=0
grep -qx "demo/package installed" /tmp/sub.out || { echo "mosquitto_sub got: $(cat /tmp/sub.out)"; status=1; }
test -f /var/lib/mqttsn-gateway/sessions.db || { echo "no session store"; status=1; }
test "$(stat -c %U /var/lib/mqttsn-gateway/sessions.db)" = mqttsn || { echo "store not mqttsn's"; status=1; }
kill -TERM "$gateway"; wait "$gateway" || { echo "gateway exit $?"; status=1; }
kill -TERM "$broker"; wait "$broker" 2>/dev/null
[ "$status" -eq 0 ] || cat /tmp/gateway.log
exit "$status"
RUN
if unshare --net sh -c "ip link set lo up && chroot '$root' /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin /bin/bash /tmp/run.sh"; then
  echo "ok: the packaged gateway relayed a QoS 1 PUBLISH to mosquitto and keeps its store in /var/lib/mqttsn-gateway"
else
  echo "FAILED: the packaged gateway did not relay"
  fail=1
fi
[ "$fail" -eq 0 ] && echo "install test: passed" || echo "install test: FAILED"
exit "$fail"
