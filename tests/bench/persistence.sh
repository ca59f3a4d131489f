#!/usr/bin/env bash
# Issue 12 §4: QoS 1 msgs/s with the session store on and off, N=100 CleanSession=false clients,
# uplink and downlink, both upstream clients, both modes. Each round runs the three settings
# back to back (store off, durability normal, durability full), each on a fresh gateway, so the
# ratios compare runs made seconds apart on the same noisy machine; the table shows medians over
# the rounds and the ratio of each median to the store-off median of the same row.
#   tests/bench/persistence.sh [BUILD_DIR] (default build) -> tests/bench/PERSISTENCE.{jsonl,md}
# ROUNDS (default 5), CLIENTS (100), MESSAGES (per client, 200) change the shape.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
bench=$build/bin/mqttsn-bench
source "$here/broker.sh"
rounds=${ROUNDS:-5}
clients=${CLIENTS:-100}
messages=${MESSAGES:-200}
out_jsonl=$here/PERSISTENCE.jsonl
work=$(mktemp -d /tmp/mqttsn-bench-persistence.XXXXXX)
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start "$work"
: >"$out_jsonl"
for round in $(seq 1 "$rounds"); do
  for client in paho native; do
    for mode in transparent aggregating; do
      for scenario in uplink downlink; do
        for persistence in none normal full; do
          echo "round $round/$rounds: $client $mode $scenario persistence=$persistence" >&2
          "$bench" "$scenario" --start-gateway --fresh-gateway --broker "tcp://127.0.0.1:$BROKER_PORT" \
            --client "$client" --mode "$mode" -n "$clients" -m "$messages" -q 1 --clean-session 0 \
            --persistence "$persistence" --timeout 120 --quiet \
            --label "round $round" --json "$work/run.jsonl" ||
            echo "  (run failed: see the JSON line)" >&2
        done
      done
    done
  done
done
cp "$work/run.jsonl" "$out_jsonl"
python3 "$here/persistence_md.py" "$out_jsonl" >"$here/PERSISTENCE.md"
cat "$here/PERSISTENCE.md"
