#!/usr/bin/env bash
# The DTLS bench of issue 13 §2: 100 MQTT-SN clients publish QoS 1 (as fast as they are
# acknowledged) through the real gateway to a private mosquitto, once over plain UDP and once over
# DTLS 1.2 with a PSK (each client its own session, handshakes before the measurement), per
# upstream client. Medians of --runs runs; the ratios compare DTLS with plain UDP of the same
# client, measured in the same invocation.
# Writes tests/bench/DTLS.md and DTLS.jsonl, and puts DTLS.md into RESULTS.md as its "DTLS"
# section (run.sh copies it there too when it rewrites RESULTS.md).
#
#   tests/bench/dtls.sh                     paho and native, 3 runs each
#   DTLS_RUNS=5 DTLS_MESSAGES=2000 tests/bench/dtls.sh
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
runs=${DTLS_RUNS:-3}
messages=${DTLS_MESSAGES:-1000}
clients=${DTLS_CLIENTS:-"paho native"}
out=tests/bench/DTLS.md
json=tests/bench/DTLS.jsonl

work=$(mktemp -d /tmp/mqttsn-dtls.XXXXXX)
trap 'broker_stop; rm -rf "$work"' EXIT
broker_start "$work"
start=$(date +%s)
for client in $clients; do
  for transport in udp dtls; do
    echo "==> $client over $transport"
    flag=()
    [ "$transport" = dtls ] && flag=(--dtls)
    "$bench" uplink --start-gateway --client "$client" -n 100 -m "$messages" -q 1 "${flag[@]}" \
      --runs "$runs" --broker "tcp://127.0.0.1:$BROKER_PORT" --timeout 120 \
      --label "transport-$transport" --json "$work/runs.jsonl" --quiet
  done
done
elapsed=$(($(date +%s) - start))
cat "$work/runs.jsonl" >>"$json"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
command_line="tests/bench/dtls.sh${DTLS_RUNS:+ (DTLS_RUNS=$DTLS_RUNS)}"
python3 - "$work/runs.jsonl" "$out" "$commit" "$elapsed" "$runs" "$messages" "$command_line" <<'PY'
import json, sys
path, out, commit, elapsed, runs, messages, command = sys.argv[1:]
by = {}
for line in open(path):
    d = json.loads(line)
    if d.get("summary"):
        by[(d.get("client"), d.get("label"))] = d
rows = []
for client in sorted({c for c, _ in by}):
    udp = by.get((client, "transport-udp"), {})
    for name in ("udp", "dtls"):
        d = by.get((client, f"transport-{name}"), {})
        rate = d.get("delivered_per_s")
        cpu = d.get("gw_cpu_us_per_msg")
        rate_ratio = rate / udp["delivered_per_s"] if rate and udp.get("delivered_per_s") else None
        cpu_ratio = cpu / udp["gw_cpu_us_per_msg"] if cpu and udp.get("gw_cpu_us_per_msg") else None
        rows.append([client, name, f"{rate:,.0f}" if rate else "-",
                     f"{rate_ratio:.2f}" if rate_ratio else "-",
                     f"{cpu:.1f}" if cpu else "-", f"{cpu_ratio:.2f}" if cpu_ratio else "-",
                     f"{d.get('rtt_p50_us', 0) / 1000:.1f}" if d.get("rtt_p50_us") else "-",
                     f"{d.get('rtt_p99_us', 0) / 1000:.1f}" if d.get("rtt_p99_us") else "-",
                     f"{d.get('loss_pct', 0):.2f}" if d.get("loss_pct") is not None else "-"])
with open(out, "w") as f:
    f.write("## DTLS\n\n")
    f.write(f"Produced by `{command}` at commit `{commit}` in {elapsed} s: 100 MQTT-SN clients on "
            f"127.0.0.1 publish {messages} QoS 1 messages each, as fast as they are acknowledged, "
            "through the gateway (transparent mode) to a private mosquitto: over plain UDP, and over "
            "DTLS 1.2 with a PSK (one session per client, handshakes done before the measurement). "
            "Medians of "
            f"{runs} runs; ratios are DTLS over UDP for the same upstream client in the same "
            "invocation. gw CPU is the gateway process's user+system time per delivered message.\n\n")
    head = ["client", "transport", "msgs/s", "ratio", "gw CPU µs/msg", "CPU ratio", "rtt p50 ms",
            "rtt p99 ms", "loss %"]
    f.write("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for r in rows:
        f.write("| " + " | ".join(r) + " |\n")
print(open(out).read())
PY
embed_section dtls.sh "$out"
echo "==> wrote $out and its section in tests/bench/RESULTS.md"
