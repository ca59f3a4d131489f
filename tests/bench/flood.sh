#!/usr/bin/env bash
# The flood bench of issue 13 §3: 100 MQTT-SN clients publish QoS 1 (from 127.0.0.1) through the
# real gateway, started with its default flood limits, to a private mosquitto; once alone and
# once while 1,000 source ports of 127.0.0.10 send CONNECTs at 5,000 a second (a spoofed flood,
# never answering). Medians of --runs runs; the ratio compares each client's flooded rate with its
# own rate without the flood, measured in the same invocation.
# Writes tests/bench/FLOOD.md and FLOOD.jsonl, and puts FLOOD.md into RESULTS.md as its
# "CONNECT flood" section (run.sh copies it there too when it rewrites RESULTS.md).
#
#   tests/bench/flood.sh                    paho and native, 3 runs each
#   FLOOD_RUNS=5 FLOOD_MESSAGES=2000 tests/bench/flood.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/bench/broker.sh
source tests/bench/sections.sh

BUILD_DIR=${BUILD_DIR:-build}
bench=$BUILD_DIR/bin/mqttsn-bench
if [ ! -x "$bench" ] || [ ! -x "$BUILD_DIR/bin/mqttsn-gateway" ]; then
  echo "build first: cmake --preset default && cmake --build build --target mqttsn-bench mqttsn-gateway" >&2
  exit 2
fi
runs=${FLOOD_RUNS:-3}
messages=${FLOOD_MESSAGES:-1000}
clients=${FLOOD_CLIENTS:-"paho native"}
ports=${FLOOD_PORTS:-1000}
rate=${FLOOD_RATE:-5000}
out=tests/bench/FLOOD.md
json=tests/bench/FLOOD.jsonl

work=$(mktemp -d /tmp/mqttsn-flood.XXXXXX)
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start "$work"
start=$(date +%s)
for client in $clients; do
  for flood in 0 "$ports"; do
    echo "==> $client, flood ports $flood"
    "$bench" uplink --start-gateway --default-limits --client "$client" -n 100 -m "$messages" -q 1 \
      --runs "$runs" --broker "tcp://127.0.0.1:$BROKER_PORT" --flood-ports "$flood" \
      --flood-rate "$rate" --timeout 120 --label "flood-$flood" --json "$work/runs.jsonl" --quiet
  done
done
elapsed=$(($(date +%s) - start))
cat "$work/runs.jsonl" >>"$json"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
command_line="tests/bench/flood.sh${FLOOD_RUNS:+ (FLOOD_RUNS=$FLOOD_RUNS)}"
python3 - "$work/runs.jsonl" "$out" "$commit" "$elapsed" "$runs" "$messages" "$ports" "$rate" "$command_line" <<'PY'
import json, sys
path, out, commit, elapsed, runs, messages, ports, rate, command = sys.argv[1:]
summaries = []
for line in open(path):
    d = json.loads(line)
    if d.get("summary"):
        summaries.append(d)
def key(d):
    return (d.get("client"), d.get("label"))
by = {key(d): d for d in summaries}
rows = []
for client in sorted({d.get("client") for d in summaries}):
    calm = by.get((client, "flood-0"), {})
    stormy = by.get((client, f"flood-{ports}"), {})
    for label, d in (("none", calm), (f"{ports} ports, {rate}/s", stormy)):
        rate_ = d.get("delivered_per_s")
        ratio = (rate_ / calm["delivered_per_s"]) if rate_ and calm.get("delivered_per_s") else None
        rows.append([client, label, f"{rate_:,.0f}" if rate_ else "-",
                     f"{ratio:.2f}" if ratio else "-",
                     f"{d.get('e2e_p50_us', 0) / 1000:.1f}" if d.get("e2e_p50_us") else "-",
                     f"{d.get('e2e_p99_us', 0) / 1000:.1f}" if d.get("e2e_p99_us") else "-",
                     f"{d.get('loss_pct', 0):.2f}" if d.get("loss_pct") is not None else "-",
                     f"{d.get('gw_cpu_us_per_msg', 0):.1f}" if d.get("gw_cpu_us_per_msg") else "-"])
with open(out, "w") as f:
    f.write("## CONNECT flood\n\n")
    f.write(f"Produced by `{command}` at commit `{commit}` in {elapsed} s: 100 MQTT-SN clients on "
            f"127.0.0.1 publish {messages} QoS 1 messages each as fast as they are acknowledged, "
            f"through the gateway with its default flood limits (`gateway.connect_rate_per_address` "
            f"100/s, burst 1,000; `max_connecting` 1,000), transparent mode, to a private mosquitto; "
            f"alone, and while {ports} UDP sockets on 127.0.0.10 send CONNECTs (each a new ClientId) "
            f"at {rate}/s and never answer. Medians of {runs} runs; the ratio is the flooded rate over "
            "the same client's rate alone, measured in the same invocation.\n\n")
    head = ["client", "flood", "msgs/s", "ratio", "e2e p50 ms", "e2e p99 ms", "loss %", "gw CPU µs/msg"]
    f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for r in rows:
        f.write("| " + " | ".join(r) + " |\n")
print(open(out).read())
PY
embed_section flood.sh "$out"
echo "==> wrote $out and its section in tests/bench/RESULTS.md"
