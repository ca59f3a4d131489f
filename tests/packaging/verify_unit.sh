#!/usr/bin/env bash
# systemd-analyze verify on the service unit (the build tree's copy: the same unit with the
# build's binary, which must exist for verify). Any message, warning or error, fails the test:
# systemd only warns about an unknown key or a bad value and then ignores it.
set -u
unit=${1:?usage: verify_unit.sh UNIT}
out=$(systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
  echo "systemd-analyze verify $unit: exit $rc"
  echo "$out"
  exit 1
fi
echo "systemd-analyze verify: $unit is clean"
