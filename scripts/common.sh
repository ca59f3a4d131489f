# Shared by scripts/run.sh and scripts/test.sh (sourced, not run): Debian packages and builds.

# What building and running the gateway needs. libssl-dev: Debian's Paho C++ CMake package
# requires it, or find_package(PahoMqttCpp) fails. libbluetooth-dev: the BlueZ socket headers of
# the Bluetooth transports (headers only; nothing links libbluetooth). libsqlite3-dev: the session
# store (persistence.path). libsystemd-dev: sd_notify (READY, WATCHDOG, STATUS) under systemd.
# mosquitto-clients: mosquitto_sub/mosquitto_pub, which the README's "Try it" uses.
# libvalijson-dev: JSON Schema validation of the config against configs/schema.json (headers only).
RUN_PACKAGES=(g++ make cmake pkg-config libuv1-dev libpaho-mqtt-dev libpaho-mqttpp-dev libssl-dev
              libbluetooth-dev libsystemd-dev
              libsqlite3-dev nlohmann-json3-dev libvalijson-dev doctest-dev libspdlog-dev libcli11-dev mosquitto
              mosquitto-clients)
# What the test suite needs on top: PTYs, clang's libFuzzer, iproute2 (`ip`) for the veth pair
# of the IPv6 multicast test's own network namespace, systemd's `systemd-analyze verify` for the
# service unit, and lintian, dpkg-dev (dpkg-shlibdeps) and file (CPack's DEB generator) for the
# Debian package; python3-jsonschema, an independent check of configs/schema.json.
TEST_PACKAGES=(socat clang libclang-rt-14-dev iproute2 systemd lintian dpkg-dev file python3-jsonschema)

log() { printf '==> %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs whichever of the named Debian packages are missing (apt-get update first, once).
ensure_packages() {
  local missing=() pkg arch
  arch=$(dpkg --print-architecture)
  for pkg in "$@"; do
    # Of this machine's architecture (or arch-independent): with a cross architecture added
    # (scripts/cross.sh), `libuv1-dev` may be installed for arm64 only.
    if [[ "$pkg" == *:* ]]; then
      dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
        missing+=("$pkg")
    else
      dpkg-query -W -f='${Status} ${Architecture}\n' "$pkg" 2>/dev/null |
        grep -qE "install ok installed ($arch|all)$" || missing+=("$pkg:$arch")
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing missing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# Configures and builds one CMakePresets.json preset (default, asan, tsan, fuzz).
build_preset() {
  local preset=$1
  shift
  log "building preset '$preset'"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)" "$@"
}

# "TOTAL FAILED" from the summary line of a ctest output file ("97% tests passed, 1 tests failed
# out of 40"), or nothing when ctest printed none (it ran no test, or did not finish).
ctest_counts() {
  local line
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1 || true)
  [ -n "$line" ] || return 0
  sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2 \1/' <<<"$line"
}
