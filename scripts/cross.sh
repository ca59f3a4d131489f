#!/usr/bin/env bash
# Cross build for a Debian ARM architecture (issue 14 §5):   scripts/cross.sh arm64|armhf
#   1. installs what is missing on this machine: Debian's cross compiler
#      (crossbuild-essential-<arch>), qemu-user-static, CMake and the packaging tools; never
#      removes a package,
#   2. makes the target's sysroot in build-cross-<arch>/sysroot (make_sysroot): the -dev packages
#      of RUN_PACKAGES for <arch> with everything they depend on, downloaded by apt and extracted;
#      nothing is installed for <arch>, so the host's packages stay as they are,
#   3. builds preset cross-<arch> into build-cross-<arch>/: the gateway, mqttsn-pub/-sub and the
#      unit tests (MQTTSN_UNIT_TESTS_ONLY: the other suites need a broker and real processes),
#   4. runs every unit test under qemu-user (ctest --preset cross-<arch>),
#   5. makes build-cross-<arch>/mqttsn-gateway_<version>_<arch>.deb and checks it with
#      tests/packaging/check_deb.sh (contents, Depends, binaries for <arch>, lintian, and the
#      packaged gateway's --check-config of its own config under qemu).
# Prints how long each step took, "summary: N passed, N failed" and the .deb's path. Exit status
# 0 only if nothing failed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

arch=${1:-}
case $arch in
  arm64) triplet='aarch64-linux-gnu' qemu='qemu-aarch64-static' ;;
  armhf) triplet='arm-linux-gnueabihf' qemu='qemu-arm-static' ;;
  *)
    echo "usage: scripts/cross.sh arm64|armhf" >&2
    exit 2
    ;;
esac
preset=cross-$arch
build_dir=build-$preset
sysroot=$PWD/$build_dir/sysroot  # MQTTSN_SYSROOT of the preset

# What runs on this machine: the compiler, qemu, CMake, and what CPack and check_deb.sh use.
CROSS_HOST_PACKAGES=(crossbuild-essential-"$arch" qemu-user-static make cmake pkg-config dpkg-dev
                     file lintian)

# Installs whichever CROSS_HOST_PACKAGES are missing. They are all for this machine's own
# architecture (or arch-independent), so apt has no reason to remove anything; --no-remove makes
# sure of it.
install_host_packages() {
  local missing=() pkg
  for pkg in "${CROSS_HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing Debian packages: ${missing[*]}"
  # DPkg::Lock::Timeout: wait for another apt (scripts/test.sh on the same machine) to finish. A
  # list that fails to download (a mirror in the middle of a sync) need not hold these packages.
  as_root apt-get update -qq -o DPkg::Lock::Timeout=600 ||
    log "some package lists could not be fetched (see above)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    --no-remove -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
}

# The target's sysroot, from the packages the host build installs (RUN_PACKAGES): every -dev one,
# for <arch>, with what it depends on (libc6, libstdc++6, libssl3, ...). The arch-independent ones
# (header-only: doctest, CLI11, nlohmann-json, valijson) are in it too, since the build reads
# nothing from the host's /usr, but alone: what they depend on are optional adapters (valijson's
# Qt, Poco, yaml-cpp: 200 packages, 470 MB). One the build needs goes into RUN_PACKAGES by name.
#   sysroot/apt/       apt's state for <arch> alone: its own package lists, an empty dpkg status
#                      (so apt resolves every dependency) and the downloaded .debs
#   sysroot/root/      all packages extracted together: what the compiler, the linker and qemu see
#   sysroot/packages/  each package alone with its control files (symbols, shlibs): what
#                      dpkg-shlibdeps reads (gateway/packaging/cpack_sysroot_shlibs.cmake)
# Made once; remove build-cross-<arch>/sysroot to take newer packages.
make_sysroot() {
  local wanted=() pkg
  for pkg in "${RUN_PACKAGES[@]}"; do
    if [[ $pkg == *-dev ]]; then wanted+=("$pkg"); fi
  done
  if [ -f "$sysroot/done" ] && [ "$(cat "$sysroot/done")" = "${wanted[*]}" ]; then
    log "sysroot: $sysroot (made before, for the same packages)"
    return 0
  fi
  log "sysroot for $arch: ${wanted[*]}"
  rm -rf "$sysroot"
  mkdir -p "$sysroot/apt/state/lists/partial" "$sysroot/apt/cache/archives/partial" \
           "$sysroot/root" "$sysroot/packages"
  touch "$sysroot/apt/status"
  # This machine's sources and apt settings (proxy, keys), but nothing of its state. No root
  # needed; as root, downloads skip apt's _apt sandbox user, which cannot write in the build tree.
  local opts=(-o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
              -o "Dir::State=$sysroot/apt/state" -o "Dir::State::status=$sysroot/apt/status"
              -o "Dir::Cache=$sysroot/apt/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
  if [ "$(id -u)" -eq 0 ]; then opts+=(-o APT::Sandbox::User=root); fi
  # An index that fails to download (a mirror in the middle of a sync) leaves that suite out: apt
  # says which; the packages then come from the other suites, consistently for <arch>.
  apt-get -qq "${opts[@]}" update ||
    log "sysroot: some $arch package lists could not be fetched (see above)"
  local with_deps=() alone=() arch_all
  arch_all=$(apt-cache "${opts[@]}" show --no-all-versions "${wanted[@]}" |
               awk '/^Package: /{name=$2} /^Architecture: all$/{print name}')
  for pkg in "${wanted[@]}"; do
    if grep -qx "$pkg" <<<"$arch_all"; then alone+=("$pkg"); else with_deps+=("$pkg"); fi
  done
  apt-get -qq "${opts[@]}" install -y --download-only --no-install-recommends "${with_deps[@]}" \
    >/dev/null
  if [ ${#alone[@]} -gt 0 ]; then
    (cd "$sysroot/apt/cache/archives" && apt-get -qq "${opts[@]}" download "${alone[@]}")
  fi
  local deb name link target
  for deb in "$sysroot"/apt/cache/archives/*.deb; do
    name=$(dpkg-deb -f "$deb" Package)
    dpkg-deb -x "$deb" "$sysroot/packages/$name"
    # Into root as hard links: one copy on disk.
    cp -al --remove-destination "$sysroot/packages/$name/." "$sysroot/root/"
    dpkg-deb -e "$deb" "$sysroot/packages/$name/DEBIAN"
  done
  # Absolute symlinks (libm.so -> /lib/<triplet>/libm.so.6, the loader) would lead out of the
  # sysroot into this machine's /: made relative, they stay inside.
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m -s --relative-to="$(dirname "$link")" "$sysroot/root$target")" "$link"
  done < <(find "$sysroot/root" -type l -lname '/*' -print0)
  [ -e "$sysroot/root/usr/lib/$triplet/libc.so" ] ||
    { echo "sysroot: no libc for $triplet in $sysroot/root" >&2; return 1; }
  echo "${wanted[*]}" >"$sysroot/done"
  log "sysroot: $(find "$sysroot/apt/cache/archives" -name '*.deb' | wc -l) packages, $(du -sh "$sysroot/root" | cut -f1)"
}

passed=0
failed=0
times=()
deb=
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
  [ -n "$deb" ] && echo "package: $deb"
  echo "summary: ${passed} passed, ${failed} failed"
  if [ "$failed" -eq 0 ]; then exit 0; fi
  exit 1
}

install_host_packages
step_done "host packages"
make_sysroot
step_done "sysroot"

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
counts=$(ctest_counts "$out")
rm -f "$out"
if [ -z "$counts" ]; then
  # Also when the filter matched nothing: ctest then says "No tests were found" and exits 0.
  echo "ctest --preset $preset ran no unit tests" >&2
  failed=$((failed + 1))
else
  read -r total bad <<<"$counts"
  passed=$((passed + total - bad))
  failed=$((failed + bad))
fi
step_done "unit tests"

log "packaging: the $arch .deb"
rm -f "$build_dir"/mqttsn-gateway_*.deb
if (cd "$build_dir" && cpack >/dev/null); then
  deb=$(ls "$build_dir"/mqttsn-gateway_*_"$arch".deb)
  if tests/packaging/check_deb.sh "$deb" "$qemu" -L "$sysroot/root"; then
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
