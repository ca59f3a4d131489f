#!/usr/bin/env python3
"""PERSISTENCE.jsonl (tests/bench/persistence.sh) -> Markdown: QoS 1 msgs/s with the session store
off, durability normal and durability full; medians over the rounds, each against the store-off
median of the same row (issue 12 §4 target: >= 0.8 at N=100)."""
import json
import statistics
import sys
from collections import defaultdict

TARGET = 0.8


def main(path):
    runs = defaultdict(list)
    failed = defaultdict(int)
    shape = None
    for line in open(path):
        r = json.loads(line)
        if r.get("summary"):
            continue  # the bench's own one-run summary line
        key = (r["client"], r["mode"], r["scenario"], r.get("persistence", "none"))
        shape = (r["clients"], r["messages"], r["size"])
        if r.get("timed_out") or r.get("error") or r.get("loss_pct", 0) > 0:
            failed[key] += 1
            continue
        runs[key].append(r)
    out = []
    out.append("# Session store on and off (issue 12 §4)\n")
    if shape:
        out.append(f"QoS 1, {shape[0]} CleanSession=false clients x {shape[1]} messages of "
                   f"{shape[2]} octets, a fresh gateway per run. Command: `tests/bench/persistence.sh`. "
                   "msgs/s is the median over the rounds of messages delivered per second; ratio = "
                   "that median / the store-off median of the same row. Target: ratio >= "
                   f"{TARGET} for `normal` (the default durability).\n")
    out.append("| client | mode | direction | store | runs | msgs/s | ratio | gateway µs CPU/msg | verdict |")
    out.append("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | --- |")
    verdicts = []
    for client in ("paho", "native"):
        for mode in ("transparent", "aggregating"):
            for scenario in ("uplink", "downlink"):
                base = runs.get((client, mode, scenario, "none"), [])
                base_rate = statistics.median(r["delivered_per_s"] for r in base) if base else None
                for persistence in ("none", "normal", "full"):
                    key = (client, mode, scenario, persistence)
                    rs = runs.get(key, [])
                    if not rs:
                        out.append(f"| {client} | {mode} | {scenario} | {persistence} | 0 "
                                   f"({failed[key]} failed) | - | - | - | no data |")
                        if persistence == "normal":
                            verdicts.append(False)
                        continue
                    rate = statistics.median(r["delivered_per_s"] for r in rs)
                    cpu = statistics.median(r.get("gw_cpu_us_per_msg", 0) for r in rs)
                    ratio = rate / base_rate if base_rate else None
                    verdict = ""
                    if persistence == "normal" and ratio is not None:
                        ok = ratio >= TARGET
                        verdicts.append(ok)
                        verdict = "pass" if ok else "FAIL"
                    elif persistence == "full":
                        verdict = "(no target)"
                    fail_note = f" ({failed[key]} failed)" if failed[key] else ""
                    out.append(f"| {client} | {mode} | {scenario} | {persistence} | {len(rs)}{fail_note} | "
                               f"{rate:,.0f} | {ratio:.2f} | {cpu:.1f} | {verdict} |"
                               if ratio is not None else
                               f"| {client} | {mode} | {scenario} | {persistence} | {len(rs)} | "
                               f"{rate:,.0f} | - | {cpu:.1f} | {verdict} |")
    out.append("")
    out.append(f"Target met in {sum(verdicts)} of {len(verdicts)} rows with `normal`.")
    out.append("")
    out.append("Reading it: uplink QoS 1 changes nothing a session keeps (the broker has the "
               "message before the PUBACK), so the store only compares each touched session's "
               "record with the last one written. Downlink writes each message once when it is "
               "queued and deletes it when the client has acknowledged it, one transaction per "
               "loop iteration. With the store on, the `native` client acknowledges a "
               "CleanSession=false client's message to the broker once it is stored, not once "
               "the client has it, which can make store-on downlink faster than store-off.")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "PERSISTENCE.jsonl")
