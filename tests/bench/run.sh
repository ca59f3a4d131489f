#!/usr/bin/env bash
# The standard benchmark matrix of issue 6, against a private mosquitto on a free loopback port.
# Writes tests/bench/RESULTS.md (machine, command, tables) and keeps the raw JSON lines beside it
# (tests/bench/RESULTS.jsonl).
#
#   tests/bench/run.sh                  full matrix, for each upstream client of the gateway (paho,
#                                       native) and mode: N in {1,10,100,1000} x QoS {0,1,2},
#                                       32-octet payloads, connect-storm 1k and 10k (100k
#                                       aggregating), idle, downlink; once: the broker-only
#                                       baseline and broker connect storm; median runs of 3
#                                       and an overload row per client and mode (QoS 0 offered at
#                                       10x the broker-only msgs/s measured first in the same run);
#                                       paced QoS 0 rows per N (offered at BENCH_PACE x the
#                                       broker-only msgs/s of the same N, measured first)
#   BENCH_QUICK=1 tests/bench/run.sh    small matrix, one run each (a few minutes)
#   tests/bench/run.sh --clients paho   only the Paho client (same as BENCH_CLIENTS=paho)
#
# Environment: BUILD_DIR (default build; built when the binaries are missing), GATEWAY_BIN (the
# gateway to measure, default $BUILD_DIR/bin/mqttsn-gateway), BENCH_CLIENTS (or CLIENTS; default
# "paho native": the gateway's upstream.client; a client the gateway refuses fails the script, it
# is never replaced by another), BENCH_MODES (default "transparent aggregating"),
# BENCH_GATEWAY_NOTE (free text about that binary), BENCH_RUNS, BENCH_NS, BENCH_QOS, BENCH_STORM,
# BENCH_TOTAL (messages per uplink run, split over the clients), BENCH_PERF (1: perf record of the
# gateway during one extra run of each row a target is judged on, see perf_args; default 1 when perf is installed,
# 0 under BENCH_QUICK), BENCH_OVERLOAD (0: no overload rows; default 1), BENCH_OVERLOAD_N (clients,
# default 10), BENCH_OVERLOAD_S (seconds of sending, default 10, 5 under BENCH_QUICK),
# BENCH_OVERLOAD_X (offered rate over the broker-only rate, default 10), BENCH_PACE (the paced QoS 0
# rows' first rate over the broker-only rate of the same N, default 0.8; 0: no paced rows),
# BENCH_PACE_E2E_MS (the broker alone absorbs a paced rate when it loses nothing and its publish ->
# subscriber p99 stays within this and it takes 95 % of the rate, default 50), BENCH_PACE_STEPS (times the rate is lowered by a
# seventh until the broker alone absorbs it, default 4), BENCH_BROKER_NODELAY (1:
# the broker sets TCP_NODELAY, see broker.sh), BENCH_PAHO_REF (the commit whose gateway is measured
# beside the Paho rows for the target "Paho's figures stay where they are or improve", default
# 2c08a47, the last commit before the native client; empty: none, the previous RESULTS.jsonl is
# used instead), BENCH_OUT (default tests/bench/RESULTS.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
source tests/bench/broker.sh
source tests/bench/sections.sh

while [ $# -gt 0 ]; do
  case $1 in
    --clients) BENCH_CLIENTS=${2:?--clients needs a list, e.g. "paho native"}; shift 2 ;;
    --clients=*) BENCH_CLIENTS=${1#--clients=}; shift ;;
    *) echo "usage: $0 [--clients \"paho native\"]" >&2; exit 2 ;;
  esac
done
[ -z "${BENCH_CLIENTS:-}" ] && [ -n "${CLIENTS:-}" ] && BENCH_CLIENTS=$CLIENTS

# The exact command, with the environment knobs that were set.
command_line=
for var in BENCH_QUICK BUILD_DIR GATEWAY_BIN BENCH_GATEWAY_NOTE BENCH_CLIENTS BENCH_MODES BENCH_RUNS \
           BENCH_NS BENCH_QOS BENCH_STORM BENCH_TOTAL BENCH_PERF BENCH_OVERLOAD BENCH_OVERLOAD_N \
           BENCH_OVERLOAD_S BENCH_OVERLOAD_X BENCH_PACE BENCH_PACE_E2E_MS BENCH_PACE_STEPS \
           BENCH_BROKER_NODELAY BENCH_PAHO_REF BENCH_OUT; do
  # Set, even to nothing: BENCH_PAHO_REF= (no reference) differs from leaving it out.
  [ -n "${!var+x}" ] && command_line+="$var=$(printf '%q' "${!var}") "
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
  IDLE_N=100 IDLE_S=5 DOWN_NS="10" DOWN_QOS="0 1"
  PERF=${BENCH_PERF:-0}
  OVERLOAD_S=${BENCH_OVERLOAD_S:-5}
else
  NS=${BENCH_NS:-"1 10 100 1000"}
  QOSS=${BENCH_QOS:-"0 1 2"}
  RUNS=${BENCH_RUNS:-3}
  TOTAL=${BENCH_TOTAL:-20000}
  STORM=${BENCH_STORM:-"1000 10000"}
  IDLE_N=1000 IDLE_S=20 DOWN_NS="10 100" DOWN_QOS="0 1 2"
  PERF=${BENCH_PERF:-1}
  OVERLOAD_S=${BENCH_OVERLOAD_S:-10}
fi
OVERLOAD=${BENCH_OVERLOAD:-1}
OVERLOAD_N=${BENCH_OVERLOAD_N:-10}
OVERLOAD_X=${BENCH_OVERLOAD_X:-10}
PACE=${BENCH_PACE:-0.8}
command -v perf >/dev/null || PERF=0
CLIENTS=${BENCH_CLIENTS:-"paho native"}
for client in $CLIENTS; do
  case $client in paho | native) ;; *) echo "unknown client '$client' (paho, native)" >&2; exit 2 ;; esac
done
MODES=${BENCH_MODES:-"transparent aggregating"}
OUT=${BENCH_OUT:-tests/bench/RESULTS.md}
json=${OUT%.md}.jsonl
# The previous results, for the target "Paho's figures stay where they are or improve" when no
# reference gateway is measured in this run.
previous=$(mktemp /tmp/mqttsn-bench-previous.XXXXXX)
[ -f "$json" ] && cp "$json" "$previous"
: >"$json"
notes=()
failed_clients=()

# The reference for that target: the gateway as it was before the native client, built from
# BENCH_PAHO_REF and measured row by row beside the Paho rows of this run (label "paho-ref"), so
# both see the same machine and broker. A figure of an earlier run differs by up to half from one
# of this run with the same binary (RESULTS.jsonl history: Paho downlink N=10 QoS 0 aggregating
# 11.1-20.1 µs/msg), which judges the machine, not the gateway.
PAHO_REF=${BENCH_PAHO_REF-2c08a47}
ref_bin=
ref_commit=
if [ -n "$PAHO_REF" ] && [[ " $CLIENTS " == *" paho "* ]]; then
  if ! ref_commit=$(git rev-parse --short "$PAHO_REF^{commit}" 2>/dev/null); then
    notes+=("P-prev: commit $PAHO_REF (BENCH_PAHO_REF) is not in this checkout: no reference gateway, the previous RESULTS.jsonl is the reference")
  else
    ref_dir=$BUILD_DIR/paho-ref-$ref_commit
    if [ ! -x "$ref_dir/build/bin/mqttsn-gateway" ]; then
      echo "==> building the reference gateway of commit $ref_commit in $ref_dir"
      rm -rf "$ref_dir" && mkdir -p "$ref_dir/src"
      if ! { git archive "$ref_commit" | tar -x -C "$ref_dir/src" &&
             cmake -S "$ref_dir/src" -B "$ref_dir/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$ref_dir/build.log" 2>&1 &&
             cmake --build "$ref_dir/build" --target mqttsn-gateway -j "$(nproc)" >>"$ref_dir/build.log" 2>&1; }; then
        notes+=("P-prev: the reference gateway of commit $ref_commit did not build (see $ref_dir/build.log): the previous RESULTS.jsonl is the reference")
      fi
    fi
    [ -x "$ref_dir/build/bin/mqttsn-gateway" ] && ref_bin=$ref_dir/build/bin/mqttsn-gateway
  fi
fi

work=$(mktemp -d /tmp/mqttsn-bench-run.XXXXXX)
cleanup() { broker_stop; rm -rf "$work" "$previous"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
broker_start "$work"
broker="tcp://127.0.0.1:$BROKER_PORT"
echo "==> mosquitto pid $BROKER_PID on $broker; gateway $GATEWAY_BIN"

common=(--broker "$broker" --broker-pid "$BROKER_PID" --json "$json" --size 32)
messages_for() { local m=$((TOTAL / $1)); [ "$m" -lt 20 ] && m=20; echo "$m"; }
summary_field() {  # summary_field FILE KEY: the KEY of the last summary line of FILE
  sed -n "/\"summary\":true/s/.*\"$2\":\\([0-9.eE+-]*\\).*/\\1/p" "$1" 2>/dev/null | tail -n 1
}

# One bench invocation; a failure is noted, never fatal for the rest of the matrix.
bench_run() {
  echo "==> mqttsn-bench $*"
  local rc=0
  "$bench" "$@" || rc=$?
  if [ "$rc" -ne 0 ]; then notes+=("\`mqttsn-bench $*\` exited with status $rc"); fi
  return 0
}

# Does the gateway start with this upstream client? A gateway that does not know upstream.client
# (or this value) refuses its config: that is an error of the whole run, never a fallback to Paho.
client_supported() {
  local client=$1 probe=$work/probe-client.jsonl rc=0
  [ "$client" = paho ] && return 0
  "$bench" uplink --start-gateway --gateway-bin "$GATEWAY_BIN" --client "$client" --broker "$broker" \
    -n 2 -m 5 -q 1 --timeout 30 --quiet --json "$probe" 2>"$work/probe.err" || rc=$?
  if [ "$rc" -ne 0 ]; then
    notes+=("**client $client FAILED**: \`mqttsn-bench uplink --client $client\` exited with status $rc; no $client rows in this run: $(grep -v '^\s*$' "$work/probe.err" | head -n 4 | tr '\n' ' ')")
    failed_clients+=("$client")
    echo "==> ERROR: the gateway does not run upstream.client=$client (status $rc):" >&2
    cat "$work/probe.err" >&2
    return 1
  fi
  return 0
}

# Does the gateway really run this mode? It may refuse it (exit 3) or accept it in the config and
# still open one upstream connection per client (what transparent does).
mode_supported() {
  local mode=$1 client=$2 probe=$work/probe.jsonl rc=0
  [ "$mode" = transparent ] && return 0
  "$bench" uplink --start-gateway --gateway-bin "$GATEWAY_BIN" --mode "$mode" --client "$client" --broker "$broker" \
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

# Overload: the offered rate is OVERLOAD_X times what the broker alone absorbs from the same
# number of plain-socket QoS 0 publishers, measured now, in this run (its line stays out of the
# results: the broker-only rows of the matrix come later).
overload_base=
overload_rate=
if [ "$OVERLOAD" = 1 ]; then
  rc=0
  "$bench" baseline --broker "$broker" --broker-pid "$BROKER_PID" --json "$work/overload-baseline.jsonl" \
    --size 32 -n "$OVERLOAD_N" \
    -m "$(messages_for "$OVERLOAD_N")" -q 0 --runs 1 --timeout 60 --quiet --label overload-baseline || rc=$?
  overload_base=$(summary_field "$work/overload-baseline.jsonl" delivered_per_s)
  if [ "$rc" -ne 0 ] || [ -z "$overload_base" ]; then
    notes+=("overload: the broker-only QoS 0 N=$OVERLOAD_N baseline failed (status $rc): no overload rows")
  else
    overload_rate=$(awk -v b="$overload_base" -v x="$OVERLOAD_X" 'BEGIN { printf "%.0f", b * x }')
    echo "==> overload: broker alone $overload_base msgs/s at N=$OVERLOAD_N, offering $overload_rate msgs/s"
  fi
fi

# Paced QoS 0 rows (target U0-loss: no loss at any rate the broker alone absorbs): for each N, a
# rate the broker alone absorbs, found now (lines kept out of the results: the broker-only rows of
# the matrix come later). It starts at PACE x the broker-only QoS 0 msgs/s of the same N; that
# figure is taken with the clients writing as fast as TCP lets them, so the broker may hold a queue
# of a second behind it. "Absorbs" is checked at the paced rate itself: the broker alone takes at
# least 95 % of it from its clients (TCP does not hold them back) and delivers every message with
# publish -> subscriber p99 within PACE_E2E_MS (the gateway's default
# upstream.max_broker_delay_ms, the queue the gateway lets the broker hold). A rate that fails is
# lowered by a seventh, at most PACE_STEPS times; the matrix then measures the broker alone at the
# rate found just before each client and mode's paced row (label "broker-only paced before ...").
PACE_E2E_MS=${BENCH_PACE_E2E_MS:-50}
PACE_STEPS=${BENCH_PACE_STEPS:-4}
declare -A pace_rate=()
if awk -v p="$PACE" 'BEGIN { exit !(p > 0) }' && ! command -v python3 >/dev/null; then
  notes+=("paced rows: python3 missing, which judges whether the broker alone absorbs a rate: no paced rows")
elif awk -v p="$PACE" 'BEGIN { exit !(p > 0) }'; then
  for n in $NS; do
    rc=0
    "$bench" baseline --broker "$broker" --broker-pid "$BROKER_PID" --json "$work/pace-$n.jsonl" \
      --size 32 -n "$n" -m "$(messages_for "$n")" -q 0 --runs 1 --timeout 60 --quiet \
      --label pace-baseline || rc=$?
    base=$(summary_field "$work/pace-$n.jsonl" delivered_per_s)
    if [ "$rc" -ne 0 ] || [ -z "$base" ]; then
      notes+=("paced rows: the broker-only QoS 0 N=$n baseline failed (status $rc): no paced row at N=$n")
      continue
    fi
    rate=$(awk -v b="$base" -v p="$PACE" 'BEGIN { printf "%.0f", b * p }')
    for step in $(seq 0 "$PACE_STEPS"); do
      rc=0
      "$bench" baseline --broker "$broker" --broker-pid "$BROKER_PID" --json "$work/pace-$n-$step.jsonl" \
        --size 32 -n "$n" -m "$(messages_for "$n")" -q 0 --rate "$rate" --runs 1 --timeout 60 \
        --quiet --label pace-baseline || rc=$?
      echo "==> paced: broker alone $base msgs/s at N=$n as fast as it takes; asked $rate msgs/s:" \
        "took $(summary_field "$work/pace-$n-$step.jsonl" send_per_s)/s," \
        "loss $(summary_field "$work/pace-$n-$step.jsonl" loss_pct) %, publish -> subscriber p99" \
        "$(summary_field "$work/pace-$n-$step.jsonl" e2e_p99_us) µs"
      # Absorbed by the rule U0-loss is judged with (results_md.py absorbed()).
      if [ "$rc" -eq 0 ] && python3 tests/bench/results_md.py "$work/pace-$n-$step.jsonl" --absorbs \
           --paced-e2e-ms "$PACE_E2E_MS"; then
        pace_rate[$n]=$rate
        break
      fi
      [ "$step" -lt "$PACE_STEPS" ] && rate=$(awk -v r="$rate" 'BEGIN { printf "%.0f", r * 6 / 7 }')
    done
    if [ -z "${pace_rate[$n]:-}" ]; then
      # Still measured at the last rate: results_md.py shows the broker-only paced row beside it
      # and does not count the gateway's loss there.
      pace_rate[$n]=$rate
      notes+=("paced rows: at N=$n the broker alone did not absorb any rate tried down to $rate msgs/s (took less than 95 % of it, lost, or held publish -> subscriber p99 above $PACE_E2E_MS ms)")
    fi
    echo "==> paced: offering ${pace_rate[$n]} msgs/s at N=$n"
  done
fi

# Profiles (BENCH_PERF): one extra, unmeasured run under `perf record -g` of the gateway per row a
# target is judged on: uplink QoS 0 at N=100 (U0-*, and what no other profile covers), uplink QoS 1
# at N=1 (U1-cpu, U1-rtt) and N=100 (U1-rate), downlink QoS 0 and 1 at the first downlink N (D0-cpu,
# D1-cpu). results_md.py puts each beside the targets it explains.
perf_n=100
case " $NS " in *" 100 "*) ;; *) perf_n=${NS%% *} ;; esac
perf_args() {  # perf_args SCENARIO N QOS CLIENT MODE: --perf FILE when that row is profiled
  local scenario=$1 n=$2 q=$3 profiled=
  [ "$PERF" = 1 ] || return 0
  case "$scenario $q" in
    "uplink 0") [ "$n" = "$perf_n" ] && profiled=1 ;;
    "uplink 1") { [ "$n" = "${NS%% *}" ] || [ "$n" = "$perf_n" ]; } && profiled=1 ;;
    "downlink 0" | "downlink 1") [ "$n" = "${DOWN_NS%% *}" ] && profiled=1 ;;
  esac
  [ -n "$profiled" ] && echo "--perf $work/perf-$4-$5-$scenario-$n-$q.data"
  return 0
}

# One row of the matrix; for Paho with a reference gateway, that gateway's row beside it (same
# load, its own binary, no profile), which goes first in every other pair so that neither always
# meets the broker as the other left it.
declare -A pairs=()
paho_row_pair() {  # paho_row_pair SCENARIO CLIENT MODE ARGS...
  local scenario=$1 client=$2 mode=$3
  shift 3
  if [ "$client" != paho ] || [ -z "$ref_bin" ]; then
    bench_run "$scenario" "$@"
    return 0
  fi
  local ref=() skip=0 arg
  for arg in "$@"; do  # the same arguments but the binary, the label and the profile
    if [ "$skip" = 1 ]; then skip=0; continue; fi
    case $arg in
      --gateway-bin | --label | --perf) skip=1 ;;
      --gateway-bin=* | --label=* | --perf=*) ;;
      *) ref+=("$arg") ;;
    esac
  done
  # The reference predates the bench's flood-limit keys (gateway.max_connecting,
  # connect_rate_per_address), which it would refuse as unknown, and has no such limits: the
  # generated config leaves them out for it. (BENCH_UPSTREAM's keys reach it too: one it does not
  # know fails its rows, which the notes then say.)
  ref+=(--gateway-bin "$ref_bin" --default-limits --as-client paho-ref --label "paho-ref $ref_commit $mode")
  # Which goes first alternates from row to row, and the other way round in the second mode, so
  # that each row has the reference first in one of the two modes.
  local flip=0
  [ "$mode" = "${MODES%% *}" ] || flip=1
  pairs[$mode]=$((${pairs[$mode]:-0} + 1))
  if [ $(((pairs[$mode] + flip) % 2)) = 0 ]; then
    bench_run "$scenario" "${ref[@]}"
    bench_run "$scenario" "$@"
  else
    bench_run "$scenario" "$@"
    bench_run "$scenario" "${ref[@]}"
  fi
}

start=$(date +%s)
for client in $CLIENTS; do
  if ! client_supported "$client"; then continue; fi
  for mode in $MODES; do
    if ! mode_supported "$mode" "$client"; then
      echo "==> ${notes[-1]}"
      continue
    fi
    gw=(--start-gateway --gateway-bin "$GATEWAY_BIN" --mode "$mode" --client "$client")
    label="$client $mode"
    for n in $NS; do
      for q in $QOSS; do
        # shellcheck disable=SC2046  # two words or none
        paho_row_pair uplink "$client" "$mode" "${gw[@]}" "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" \
          --runs "$RUNS" --timeout 120 --label "$label" $(perf_args uplink "$n" "$q" "$client" "$mode")
      done
    done
    for n in $NS; do
      [ -n "${pace_rate[$n]:-}" ] || continue
      # The broker alone at the same rate just before (it slows over a run): results_md.py judges
      # the gateway's loss only where this row shows the broker absorbing the rate.
      bench_run baseline "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q 0 --rate "${pace_rate[$n]}" \
        --runs "$RUNS" --timeout 120 --label "broker-only paced before $label"
      bench_run uplink "${gw[@]}" "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q 0 \
        --rate "${pace_rate[$n]}" --runs "$RUNS" --timeout 120 --label "$label paced"
    done
    storm=$STORM
    # Targets: 100,000 connected clients in aggregating mode (transparent needs a socket each).
    if [ "$mode" = aggregating ] && [ -z "${BENCH_STORM:-}" ] && [ -z "${BENCH_QUICK:-}" ]; then
      storm="$storm 100000"
    fi
    for n in $storm; do
      runs=$RUNS
      [ "$n" -gt 1000 ] && runs=1  # a 10k storm in transparent mode takes minutes
      # Every storm run starts a fresh gateway (the bench does so), so RSS per client is its own.
      bench_run connect-storm "${gw[@]}" "${common[@]}" --runs "$runs" -n "$n" --timeout 300 \
        --connect-window 1000 --keepalive-s 600 --label "$label"
    done
    if [ -n "$overload_rate" ]; then
      bench_run overload "${gw[@]}" "${common[@]}" -n "$OVERLOAD_N" --rate "$overload_rate" \
        --baseline-per-s "$overload_base" --duration-s "$OVERLOAD_S" --runs 1 \
        --timeout $((OVERLOAD_S + 60)) --label "$label"
    fi
    bench_run idle "${gw[@]}" "${common[@]}" --runs 1 -n "$IDLE_N" --keepalive-s 10 \
      --duration-s "$IDLE_S" --timeout 300 --label "$label"
    for n in $DOWN_NS; do
      for q in $DOWN_QOS; do
        # shellcheck disable=SC2046
        paho_row_pair downlink "$client" "$mode" "${gw[@]}" "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" \
          --runs "$RUNS" --timeout 60 --label "$label" $(perf_args downlink "$n" "$q" "$client" "$mode")
      done
    done
  done
done
# Broker-only, once for all clients: the same uplink load and connect storms from the bench's
# plain-socket MQTT clients straight to the broker.
for n in $NS; do
  for q in $QOSS; do
    bench_run baseline "${common[@]}" -n "$n" -m "$(messages_for "$n")" -q "$q" --runs "$RUNS" \
      --timeout 120 --label broker-only
  done
done
for n in $STORM; do
  runs=$RUNS
  [ "$n" -gt 1000 ] && runs=1
  # Window 64: mosquitto listens with a backlog of 100, and a SYN beyond it waits a second for its
  # retry (tcp_listen_overflows), which would measure the backlog, not the broker.
  bench_run broker-storm "${common[@]}" --runs "$runs" -n "$n" --timeout 300 --connect-window 64 \
    --keepalive-s 600 --label broker-only
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
  echo "- Broker: $mosquitto_version (private instance on 127.0.0.1, large queues$([ "${BENCH_BROKER_NODELAY:-0}" = 1 ] && echo ", TCP_NODELAY on"): see tests/bench/broker.sh)"
  echo "- Upstream clients measured: $CLIENTS${failed_clients[*]:+ (FAILED: ${failed_clients[*]})}; Paho MQTT C $paho_version (the gateway's \"paho\" client only: the bench's own MQTT side is plain sockets)"
  echo "- Gateway: \`$GATEWAY_BIN\`${BENCH_GATEWAY_NOTE:+ ($BENCH_GATEWAY_NOTE)}, started by the bench with a generated config per invocation"
  [ -n "$ref_bin" ] && echo "- Reference gateway (client *paho-ref*, for P-prev): \`$ref_bin\`, built from commit $ref_commit (BENCH_PAHO_REF), its Paho client measured beside every Paho row of the uplink and downlink matrix (not the paced rows)"
  echo
  if [ ${#notes[@]} -gt 0 ]; then
    echo "## Notes"
    echo
    for note in "${notes[@]}"; do echo "- $note"; done
    echo
  fi
  if command -v python3 >/dev/null; then
    python3 tests/bench/results_md.py "$json" --clients "$CLIENTS" --previous "$previous" \
      --paced-e2e-ms "$PACE_E2E_MS"
  else
    echo "(python3 missing: raw results in \`$json\`)"
  fi
  # The last results of the benches with a section of their own (flood.sh, dtls.sh).
  print_sections
} >"$OUT"
echo "==> wrote $OUT (raw: $json) in ${elapsed} s"
if [ ${#failed_clients[@]} -gt 0 ]; then
  echo "==> ERROR: no rows for client(s) ${failed_clients[*]}: the gateway refused them (see Notes in $OUT)" >&2
  exit 1
fi
