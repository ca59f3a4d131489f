#!/usr/bin/env bash
# The standard benchmark matrix of issue 6, against a private mosquitto on a free loopback port.
# Writes tests/bench/RESULTS.md (machine, command, tables) and keeps the raw JSON lines beside it
# (tests/bench/RESULTS.jsonl).
#
#   tests/bench/run.sh                  full matrix: N in {1,10,100,1000} x QoS {0,1,2}, 32-octet
#                                       payloads, baseline, connect-storm 1k and 10k, idle, downlink,
#                                       medians of 3 runs
#   BENCH_QUICK=1 tests/bench/run.sh    small matrix, one run each (about two minutes)
#
# Environment: BUILD_DIR (default build; built when the binaries are missing), GATEWAY_BIN (the
# gateway to measure, default $BUILD_DIR/bin/mqttsn-gateway), BENCH_MODES (default "transparent
# aggregating"), BENCH_GATEWAY_NOTE (free text about that binary), BENCH_RUNS, BENCH_NS, BENCH_QOS, BENCH_STORM, BENCH_TOTAL (messages per uplink
# run, split over the clients), BENCH_OUT (default tests/bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source tests/bench/broker.sh

# The exact command, with the environment knobs that were set.
command_line=
for var in BENCH_QUICK BUILD_DIR GATEWAY_BIN BENCH_GATEWAY_NOTE BENCH_MODES BENCH_RUNS BENCH_NS \
           BENCH_QOS BENCH_STORM BENCH_TOTAL BENCH_OUT; do
  [ -n "${!var:-}" ] && command_line+="$var=$(printf '%q' "${!var}") "
done
command_line+="tests/bench/run.sh"
BUILD_DIR=${BUILD_DIR:-build}
bench=$BUILD_DIR/bin/mqttsn-bench
GATEWAY_BIN=${GATEWAY_BIN:-$BUILD_DIR/bin/mqttsn-gateway}
if [ ! -x "$bench" ] || [ ! -x "$GATEWAY_BIN" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD_DIR" --target mqttsn-bench mqttsn-gateway -j "$(nproc)"
fi

if [ -n "${BENCH_QUICK:-}" ]; then
  NS=${BENCH_NS:-"1 10 100"}
  QOSS=${BENCH_QOS:-"0 1 2"}
  RUNS=${BENCH_RUNS:-1}
  TOTAL=${BENCH_TOTAL:-3000}
  STORM=${BENCH_STORM:-"200"}
  IDLE_N=100 IDLE_S=5 DOWN_NS="10" DOWN_QOS="1"
else
  NS=${BENCH_NS:-"1 10 100 1000"}
  QOSS=${BENCH_QOS:-"0 1 2"}
  RUNS=${BENCH_RUNS:-3}
  TOTAL=${BENCH_TOTAL:-20000}
  STORM=${BENCH_STORM:-"1000 10000"}
  IDLE_N=1000 IDLE_S=20 DOWN_NS="10 100" DOWN_QOS="0 1 2"
fi
MODES=${BENCH_MODES:-"transparent aggregating"}
OUT=${BENCH_OUT:-tests/bench/RESULTS.md}
json=${OUT%.md}.jsonl
: >"$json"
notes=()

work=$(mktemp -d /tmp/mqttsn-bench-run.XXXXXX)
cleanup() { broker_stop; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
broker_start "$work"
broker="tcp://127.0.0.1:$BROKER_PORT"
echo "==> mosquitto pid $BROKER_PID on $broker; gateway $GATEWAY_BIN"

common=(--broker "$broker" --broker-pid "$BROKER_PID" --json "$json" --size 32)
messages_for() { local m=$((TOTAL / $1)); [ "$m" -lt 20 ] && m=20; echo "$m"; }

# One bench invocation; a failure is noted, never fatal for the rest of the matrix.
bench_run() {
  echo "==> mqttsn-bench $*"
  local rc=0
  "$bench" "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then notes+=("\`mqttsn-bench $*\` exited with status $rc"); fi
  return 0
}

# Does the gateway really run this mode? It may refuse it (exit 3) or accept it in the config and
# still open one upstream connection per client (what transparent does).
mode_supported() {
  local mode=$1 probe=$work/probe.jsonl rc=0
  [ "$mode" = transparent ] && return 0
  "$bench" uplink --start-gateway --gateway-bin "$GATEWAY_BIN" --mode "$mode" --broker "$broker" \
    -n 20 -m 5 -q 1 --timeout 30 --quiet --json "$probe" 2>"$work/probe.err" || rc=$?
  if [ "$rc" -eq 3 ]; then
    notes+=("$mode: not supported by this gateway build (it refused the mode: $(head -n 3 "$work/probe.err" | tr '\n' ' '))")
    return 1
  fi
  local sockets
  sockets=$(sed -n 's/.*"gw_sockets":\([0-9]*\).*/\1/p' "$probe" | head -n 1)
  if [ -n "$sockets" ] && [ "$sockets" -ge 20 ]; then
    notes+=("$mode: not supported by this gateway build (the config is accepted, but with 20 clients the gateway held $sockets sockets, i.e. one upstream connection per client as in transparent mode)")
    return 1
  fi
  if [ "$rc" -ne 0 ]; then
    notes+=("$mode: probe failed (status $rc): $(head -n 3 "$work/probe.err" | tr '\n' ' ')")
    return 1
  fi
  return 0
}

start=$(date +%s)
for mode in $MODES; do
  if ! mode_supported "$mode"; then
    echo "==> ${notes[-1]}"
    continue
  fi
  gw=(--start-gateway --gateway-bin "$GATEWAY_BIN" --mode "$mode")
  for n in $NS; do
    for q in $QOSS; do
      bench_run uplink "${gw[@]}" "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" \
        --runs "$RUNS" --timeout 120 --label "$mode"
    done
  done
  storm=$STORM
  # Issue 6: 50,000 connected clients in aggregating mode (transparent needs a socket each).
  if [ "$mode" = aggregating ] && [ -z "${BENCH_STORM:-}" ] && [ -z "${BENCH_QUICK:-}" ]; then
    storm="$storm 50000"
  fi
  for n in $storm; do
    runs=$RUNS
    [ "$n" -gt 1000 ] && runs=1  # a 10k storm in transparent mode takes minutes
    bench_run connect-storm "${gw[@]}" "${common[@]}" --runs "$runs" -n "$n" --timeout 300 \
      --connect-window 1000 --keepalive-s 600 --label "$mode"
  done
  bench_run idle "${gw[@]}" "${common[@]}" --runs 1 -n "$IDLE_N" --keepalive-s 10 \
    --duration-s "$IDLE_S" --timeout 300 --label "$mode"
  for n in $DOWN_NS; do
    for q in $DOWN_QOS; do
      bench_run downlink "${gw[@]}" "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" \
        --runs "$RUNS" --timeout 60 --label "$mode"
    done
  done
done
for n in $NS; do
  for q in $QOSS; do
    bench_run baseline "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" --runs "$RUNS" \
      --timeout 120 --label broker-only
  done
done
elapsed=$(($(date +%s) - start))

# ----- RESULTS.md ---------------------------------------------------------------------------
mosquitto_version=$("$(broker_binary)" -h 2>&1 | head -n 1 || true)
paho_version=$(dpkg-query -W -f='${Version}' libpaho-mqtt1.3 2>/dev/null || echo unknown)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
if [ "$GATEWAY_BIN" = "$BUILD_DIR/bin/mqttsn-gateway" ]; then
  dirty=$(git status --porcelain -- gateway transports mqtt_bridge sn_protocol 2>/dev/null | head -n 1)
fi
{
  echo "# MQTT-SN gateway benchmark results"
  echo
  echo "Produced by \`$command_line\` on $(date -u '+%Y-%m-%d %H:%M UTC') in ${elapsed} s"
  echo "(commit $commit${dirty:+, with uncommitted changes in the gateway sources})."
  echo
  echo "## Machine"
  echo
  echo "- CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores available"
  echo "- Memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "- Kernel: $(uname -sr)"
  echo "- Broker: $mosquitto_version (private instance on 127.0.0.1, large queues: see tests/bench/broker.sh)"
  echo "- Paho MQTT C: $paho_version (the gateway's upstream, the bench's subscriber, publisher and baseline)"
  echo "- Gateway: \`$GATEWAY_BIN\`${BENCH_GATEWAY_NOTE:+ ($BENCH_GATEWAY_NOTE)}, started by the bench with a generated config per invocation"
  echo
  if [ ${#notes[@]} -gt 0 ]; then
    echo "## Notes"
    echo
    for note in "${notes[@]}"; do echo "- $note"; done
    echo
  fi
  if command -v python3 >/dev/null; then
    python3 tests/bench/results_md.py "$json"
  else
    echo "(python3 missing: raw results in \`$json\`)"
  fi
} >"$OUT"
echo "==> wrote $OUT (raw: $json) in ${elapsed} s"
