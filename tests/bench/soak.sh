#!/usr/bin/env bash
# The soak of issue 12 §7: N MQTT-SN clients (default 1,000) for a while (default 600 s) against
# the real gateway and a private mosquitto on a free 127.0.0.1 port; mixed QoS 0/1/2 uplink and
# downlink, sleepers and reconnects; the gateway's RSS and open descriptors sampled over the run.
# Writes (replaces) one section per client and mode in tests/bench/SOAK.md and appends the raw JSON
# line to tests/bench/SOAK.jsonl; the gateway's log stays in /tmp/mqttsn-soak-CLIENT-MODE.gateway.log.
# Exits 1 when a run lost a message, duplicated a QoS 2 one, was
# not flat or failed; 2 on bad usage.
#
#   tests/bench/soak.sh                                  paho, transparent, 1,000 clients, 600 s
#   tests/bench/soak.sh --client native --mode aggregating --clients 200 --duration-s 60
#   tests/bench/soak.sh --client "paho native"           one run after the other
#
# Environment: BUILD_DIR (default build), GATEWAY_BIN (default $BUILD_DIR/bin/mqttsn-gateway),
# SOAK_RATE (uplink msgs/s in total, default 200), SOAK_DOWN_RATE (downlink, default 100),
# SOAK_SAMPLE_S (5), SOAK_WARMUP_S (60), SOAK_EXTRA (more mqttsn-bench arguments), SOAK_OUT
# (default tests/bench/SOAK.md), SOAK_NOTE (free text for the section).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/broker.sh

clients_list=paho mode=transparent n=1000 duration=600
while [ $# -gt 0 ]; do
  case $1 in
    --client) clients_list=${2:?}; shift 2 ;;
    --mode) mode=${2:?}; shift 2 ;;
    --clients) n=${2:?}; shift 2 ;;
    --duration-s) duration=${2:?}; shift 2 ;;
    *) echo "usage: $0 [--client \"paho native\"] [--mode transparent|aggregating] [--clients N] [--duration-s S]" >&2
       exit 2 ;;
  esac
done
for client in $clients_list; do
  case $client in paho | native) ;; *) echo "unknown client '$client' (paho, native)" >&2; exit 2 ;; esac
done

BUILD_DIR=${BUILD_DIR:-build}
bench=$BUILD_DIR/bin/mqttsn-bench
GATEWAY_BIN=${GATEWAY_BIN:-$BUILD_DIR/bin/mqttsn-gateway}
if [ ! -x "$bench" ] || [ ! -x "$GATEWAY_BIN" ]; then
  echo "build first: cmake --preset default && cmake --build build --target mqttsn-bench mqttsn-gateway" >&2
  exit 2
fi
OUT=${SOAK_OUT:-tests/bench/SOAK.md}
json=${OUT%.md}.jsonl

work=$(mktemp -d /tmp/mqttsn-soak.XXXXXX)
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start "$work"
broker="tcp://127.0.0.1:$BROKER_PORT"
echo "==> mosquitto pid $BROKER_PID on $broker"

status=0
for client in $clients_list; do
  args=(soak --start-gateway --gateway-bin "$GATEWAY_BIN" --client "$client" --mode "$mode"
        --broker "$broker" -n "$n" --duration-s "$duration" --rate "${SOAK_RATE:-200}"
        --down-rate "${SOAK_DOWN_RATE:-100}" --sample-s "${SOAK_SAMPLE_S:-5}"
        --warmup-s "${SOAK_WARMUP_S:-60}" --json "$work/$client.jsonl"
        --keep-gateway-log "/tmp/mqttsn-soak-$client-$mode.gateway.log")
  # shellcheck disable=SC2206
  [ -n "${SOAK_EXTRA:-}" ] && args+=($SOAK_EXTRA)
  command="tests/bench/soak.sh --client $client --mode $mode --clients $n --duration-s $duration"
  for var in SOAK_RATE SOAK_DOWN_RATE SOAK_SAMPLE_S SOAK_WARMUP_S SOAK_EXTRA; do
    [ -n "${!var:-}" ] && command="$var=$(printf '%q' "${!var}") $command"
  done
  echo "==> $command"
  echo "==> mqttsn-bench ${args[*]}"
  rc=0
  "$bench" "${args[@]}" || rc=$?
  if [ ! -s "$work/$client.jsonl" ]; then
    echo "==> $client: no result (mqttsn-bench exited with status $rc)" >&2
    status=1
    continue
  fi
  [ "$rc" -ne 0 ] && status=1
  echo "==> gateway log (info): /tmp/mqttsn-soak-$client-$mode.gateway.log"
  tail -n 1 "$work/$client.jsonl" >>"$json"
  machine="$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1), $(nproc) cores; $(uname -sr); $({ "$(broker_binary)" -h 2>&1 || true; } | head -n 1)"
  python3 tests/bench/soak_md.py "$OUT" "$work/$client.jsonl" --command "$command" \
    --machine "$machine" --commit "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo +changes)" \
    --note "${SOAK_NOTE:-}" --status "$rc" || status=1
done
echo "==> $OUT"
exit "$status"
