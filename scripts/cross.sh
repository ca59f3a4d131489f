#!/usr/bin/env bash
# Cross build for a Debian ARM architecture (issue 14 §5):   scripts/cross.sh arm64|armhf
#   1. installs what is missing: Debian's cross compiler (crossbuild-essential-<arch>), qemu-user,
#      and the target's libraries as multiarch packages (libuv1-dev:<arch>, ..., after
#      `dpkg --add-architecture <arch>`); it never removes a package (see install_missing),
#   2. builds preset cross-<arch> into build-cross-<arch>/: the gateway, mqttsn-pub/-sub and the
#      unit tests (MQTTSN_UNIT_TESTS_ONLY: the other suites need a broker and real processes),
#   3. runs every unit test under qemu-user (ctest --preset cross-<arch>),
#   4. makes build-cross-<arch>/mqttsn-gateway_<version>_<arch>.deb and checks it with
#      tests/packaging/check_deb.sh (contents, Depends, binaries for <arch>, lintian, and the
#      packaged gateway's --check-config of its own config under qemu).
# Prints how long each step took, "summary: N passed, N failed" and the .deb's path. Exit status
# 0 only if nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

arch=${1:-}
case $arch in
  arm64) qemu='qemu-aarch64-static' ;;
  armhf) qemu='qemu-arm-static' ;;
  *)
    echo "usage: scripts/cross.sh arm64|armhf" >&2
    exit 2
    ;;
esac
preset=cross-$arch
build_dir=build-$preset

# What runs on the build machine: the compiler, qemu, CMake and what CPack and check_deb.sh use.
CROSS_HOST_PACKAGES=(crossbuild-essential-"$arch" qemu-user-static make cmake pkg-config dpkg-dev
                     file lintian)

# The Debian architecture of a package: "all" for the header-only ones.
package_arch() {
  local found
  found=$(dpkg-query -W -f='${Architecture}\n' "$1" 2>/dev/null | grep -m 1 .) ||
    found=$(apt-cache show --no-all-versions "$1" 2>/dev/null | sed -n 's/^Architecture: //p' |
              head -n 1) || true
  echo "$found"
}

# Sets `missing` to what is not installed of: CROSS_HOST_PACKAGES, and every -dev package the host
# build needs (RUN_PACKAGES): an arch-independent one (nlohmann-json3-dev, doctest-dev,
# libcli11-dev: headers only) as it is, shared with the host build; any other as its :<arch> copy.
find_missing() {
  local wanted=("${CROSS_HOST_PACKAGES[@]}") pkg
  for pkg in "${RUN_PACKAGES[@]}"; do
    [[ $pkg == *-dev ]] || continue
    if [ "$(package_arch "$pkg")" = all ]; then wanted+=("$pkg"); else wanted+=("$pkg:$arch"); fi
  done
  missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
}

# A library package that is Multi-Arch: same installs beside the host's copy, but only at the same
# version: apt upgrades the host's copy to match (named below), and with a package that is not
# Multi-Arch: same it would remove the host's -dev package instead. So apt first plans the
# installation with --no-remove and nothing is installed if the plan removes anything; the
# installation itself runs with --no-remove too. The build machine's own build keeps working.
install_missing() {
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    log "adding the Debian architecture $arch (dpkg --add-architecture)"
    as_root dpkg --add-architecture "$arch"
  fi
  find_missing
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing Debian packages: ${missing[*]}"
  # DPkg::Lock::Timeout: wait for another apt (scripts/test.sh on the same machine) to finish.
  as_root apt-get update -qq -o DPkg::Lock::Timeout=600
  find_missing  # again: the fresh lists may say "all" where the old ones had no entry
  [ ${#missing[@]} -eq 0 ] && return 0
  local plan
  if ! plan=$(apt-get install -s --no-install-recommends --no-remove "${missing[@]}" 2>&1) ||
      grep -q '^Remv ' <<<"$plan"; then
    grep -E '^(Remv |E: )|^ ' <<<"$plan" >&2 || true
    echo "cross.sh: installing ${missing[*]} would remove packages; nothing was installed" >&2
    exit 1
  fi
  local upgraded
  upgraded=$(sed -nE 's/^Inst ([^ ]+) \[.*/\1/p' <<<"$plan" | tr '\n' ' ')
  [ -n "$upgraded" ] &&
    log "apt upgrades these installed packages (a Multi-Arch: same pair needs one version): $upgraded"
  log "apt: $(grep -E '^[0-9]+ upgraded' <<<"$plan")"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --no-remove -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

passed=0
failed=0
times=()
step_started=$SECONDS
# Records how long the step that just ended took.
step_done() {
  times+=("$1 $((SECONDS - step_started)) s")
  step_started=$SECONDS
}
finish() {
  local joined
  joined=$(printf '%s, ' "${times[@]}")
  log "time: ${joined%, }"
  [ -n "${deb:-}" ] && echo "package: $deb"
  echo "summary: ${passed} passed, ${failed} failed"
  if [ "$failed" -eq 0 ]; then exit 0; fi
  exit 1
}

install_missing
step_done "packages"

if ! build_preset "$preset"; then
  echo "build of preset '$preset' failed" >&2
  failed=$((failed + 1))
  step_done "build"
  finish
fi
step_done "build"

log "unit tests under $qemu: ctest --preset $preset"
out=$(mktemp)
ctest --preset "$preset" -j "$(nproc)" 2>&1 | tee "$out" || true
line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$out" | tail -n 1 || true)
rm -f "$out"
if [ -z "$line" ]; then
  # Also when the filter matched nothing: ctest then says "No tests were found" and exits 0.
  echo "ctest --preset $preset ran no unit tests" >&2
  failed=$((failed + 1))
else
  total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  bad=$(sed -E 's/.* ([0-9]+) tests? failed out of.*/\1/' <<<"$line")
  passed=$((passed + total - bad))
  failed=$((failed + bad))
fi
step_done "unit tests"

log "packaging: the $arch .deb"
rm -f "$build_dir"/mqttsn-gateway_*.deb
if (cd "$build_dir" && cpack >/dev/null); then
  deb=$(ls "$build_dir"/mqttsn-gateway_*_"$arch".deb)
  if tests/packaging/check_deb.sh "$deb" "$qemu"; then
    passed=$((passed + 1))
  else
    echo "packaging: $deb failed its checks" >&2
    failed=$((failed + 1))
  fi
else
  echo "packaging: cpack failed in $build_dir" >&2
  failed=$((failed + 1))
fi
step_done "package"
finish
