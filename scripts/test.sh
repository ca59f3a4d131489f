#!/usr/bin/env bash
# Set up and test: installs missing Debian packages, builds, and runs the whole suite:
#   1. every ctest (unit, codec, config, command line, fuzz corpus replay, integration with a real
#      mosquitto and the real gateway over UDP) in the default preset,
#   2. the same under ASan+UBSan (asan preset) and ThreadSanitizer (tsan preset),
#   3. as root: the Debian package installed into a fresh Debian root and run there,
#   4. the libFuzzer codec targets (MQTT-SN, then MQTT 3.1.1/5.0) for FUZZ_SECONDS each (default 60).
# Ends with the skipped tests and why they did not run, the failed tests, and one line
# "summary: N passed, N skipped, N failed" over all of it. Exit status 0 only if none failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/common.sh

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
ensure_packages "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}" || exit 1

passed=0
failed=0
skipped=0
failures=()  # "preset: test name" of every failed test, repeated at the end
failure_logs=$(mktemp -d)  # the output of each failed test, repeated at the end (CI keeps the tail)
skips=()     # "preset: test name" of every test that did not run (its output says why)

# Runs ctest for a preset and adds its counts to the totals.
run_ctest() {
  local preset=$1 out
  log "ctest --preset $preset"
  out=$(mktemp)
  # Most cases wait on the network and timers (the default preset uses ~11 % of the CPU at -j
  # nproc), so more run at once than there are cores: 3 per core in the default preset, 2 under
  # the sanitizers, which need more CPU per case. CTEST_JOBS overrides both.
  local per_core=2
  [ "$preset" = default ] && per_core=3
  local jobs=${CTEST_JOBS:-$(( $(nproc) * per_core ))}
  ctest --preset "$preset" -j "$jobs" --output-on-failure 2>&1 | tee "$out"
  local counts total bad
  counts=$(ctest_counts "$out")
  if [ -z "$counts" ]; then
    echo "ctest --preset $preset printed no summary" >&2
    failed=$((failed + 1))
    return
  fi
  read -r total bad <<<"$counts"
  # ctest counts a skipped test (SKIP_REGULAR_EXPRESSION, see tests/) among the passed ones.
  # Their reasons are in their output, which ctest shows only for failures: run each once more
  # (a skipped test is quick) and keep the lines that say why.
  local skipped_lines number name why
  skipped_lines=$(sed -n '/The following tests did not run:/,/^$/p' "$out" |
                    sed -nE 's/^[[:space:]]+([0-9]+) - (.*) \(Skipped\)$/\1 \2/p')
  while read -r number name; do
    [ -n "$name" ] || continue
    local verbose
    verbose=$(ctest --preset "$preset" -I "$number,$number" -V </dev/null 2>&1 | sed -E 's/^[0-9]+: //')
    why=$(grep -E 'SKIPPED' <<<"$verbose" | head -n 3)
    [ -n "$why" ] || why=$(grep -iE 'skip' <<<"$verbose" |
                             grep -vE '\[doctest\]|tests? skipped|Skipped$|^[[:space:]]*[0-9]+ - ' |
                             head -n 3)
    skips+=("$preset: $name${why:+
      why: ${why//$'\n'/$'\n      why: '}}")
    skipped=$((skipped + 1))
    passed=$((passed - 1))
  done <<<"$skipped_lines"
  passed=$((passed + total - bad))
  failed=$((failed + bad))
  local listed
  while IFS= read -r listed; do
    [ -n "$listed" ] || continue
    failures+=("$preset: $listed")
    name=$(sed -E 's/ \([^)]*\)$//' <<<"$listed")
    # ctest prints a failed test's output right after its result line; keep that block.
    awk -v name="$name" '
      index($0, "Test #") && index($0, ": " name " ") && /\*\*\*|Failed|Timeout|Exception/ { on = 1; print; next }
      on && (/^[[:space:]]*Start +[0-9]+: / || /^[[:space:]]*[0-9]+\/[0-9]+ Test +#/ || /tests passed, /) { on = 0 }
      on { print }' "$out" | tail -n 80 >"$failure_logs/${#failures[@]}"
  done < <(sed -n '/The following tests FAILED:/,$p' "$out" | sed -nE 's/^[[:space:]]+[0-9]+ - (.*)$/\1/p')
  rm -f "$out"
}

for preset in ${PRESETS:-default asan tsan}; do
  if build_preset "$preset"; then
    run_ctest "$preset"
  else
    echo "build of preset '$preset' failed" >&2
    failed=$((failed + 1))
  fi
done

# The Debian package installed into a fresh Debian bookworm root and run there (issue 14 §1):
# needs root (chroot, mount, a network namespace) and the default preset's build.
if [[ " ${PRESETS:-default asan tsan} " == *" default "* ]]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "package install test: SKIPPED: needs root (tests/packaging/install_test.sh)"
    skips+=("packaging: the .deb installs and runs in a fresh Debian root
      why: not root")
    skipped=$((skipped + 1))
  else
    log "packaging: the .deb installed into a fresh Debian root"
    rm -f build/mqttsn-gateway_*.deb
    install_out=$(mktemp)
    install_status=0
    if (cd build && cpack >/dev/null); then
      tests/packaging/install_test.sh build/mqttsn-gateway_*.deb 2>&1 | tee "$install_out"
      install_status=${PIPESTATUS[0]}
    else
      install_status=1
    fi
    if [ "$install_status" -eq 0 ]; then
      passed=$((passed + 1))
    elif [ "$install_status" -eq 77 ]; then
      # The machine cannot make a Debian root or a network namespace: said, and counted skipped.
      skips+=("packaging: the .deb installs and runs in a fresh Debian root
      why: $(grep -m1 'SKIPPED' "$install_out")")
      skipped=$((skipped + 1))
    else
      failures+=("packaging: the .deb installs and runs in a fresh Debian root (Failed)")
      tail -n 80 "$install_out" >"$failure_logs/${#failures[@]}"
      failed=$((failed + 1))
    fi
    rm -f "$install_out"
  fi
fi

# Coverage-guided fuzzing of one codec for FUZZ_SECONDS on a scratch copy of its seed corpus:
# run_fuzz TARGET WHAT CORPUS. Adds one passed or failed.
run_fuzz() {
  local target=$1 what=$2 corpus=$3 work execs
  work=$(mktemp -d)
  log "fuzzing ${what} for ${FUZZ_SECONDS}s"
  if "build-fuzz/bin/$target" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
      -artifact_prefix="$work/" "$work" "$corpus" >"$work/fuzz.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
    log "fuzz ${what}: ${execs} executions in ${FUZZ_SECONDS}s, no invariant violated"
    passed=$((passed + 1))
  else
    tail -n 40 "$work/fuzz.log"
    echo "fuzz ${what}: FAILED; reproducer(s): $(ls "$work"/crash-* "$work"/leak-* 2>/dev/null)" >&2
    failed=$((failed + 1))
  fi
}

if [ "$FUZZ_SECONDS" -gt 0 ]; then
  if build_preset fuzz >/dev/null; then
    run_fuzz fuzz_decode "sn::decode" tests/fuzz/corpus/decode
    # The MQTT 3.1.1/5.0 codec of the native upstream client (mqtt_bridge/codec).
    run_fuzz fuzz_mqtt_decode "mqtt_codec::decode" tests/fuzz/corpus/mqtt_decode
  else
    echo "fuzz preset failed to build (clang/libFuzzer missing?)" >&2
    failed=$((failed + 1))
  fi
else
  log "fuzz: skipped because FUZZ_SECONDS=0"
fi

if [ ${#skips[@]} -gt 0 ]; then
  echo "skipped tests:"
  printf '  %s\n' "${skips[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
  for i in "${!failures[@]}"; do
    echo "==> output of failed test ${failures[$i]} (last 80 lines):"
    cat "$failure_logs/$((i + 1))" 2>/dev/null
  done
  echo "failed tests:"
  printf '  %s\n' "${failures[@]}"
fi
echo "summary: ${passed} passed, ${skipped} skipped, ${failed} failed"
rm -rf "$failure_logs"
[ "$failed" -eq 0 ]
