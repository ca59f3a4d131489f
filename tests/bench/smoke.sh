#!/usr/bin/env bash
# ctest smoke test of the bench (label "bench"): a private mosquitto on a free loopback port, the
# real gateway started by the bench, 2 clients x 50 QoS 1 messages; fails on any loss or timeout.
# Exit 77 (skipped) when mosquitto is not installed.
set -euo pipefail
bench=${1:?usage: smoke.sh PATH/TO/mqttsn-bench}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/broker.sh"
broker_binary >/dev/null || { echo "mosquitto not installed: skipped"; exit 77; }
work=$(mktemp -d /tmp/mqttsn-bench-smoke.XXXXXX)
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start "$work"
"$bench" uplink --start-gateway --broker "tcp://127.0.0.1:$BROKER_PORT" -n 2 -m 50 -q 1 \
  --timeout 20 --expect-no-loss
