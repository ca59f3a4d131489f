#!/usr/bin/env python3
"""Writes one soak run (the JSON line of `mqttsn-bench soak`) as a section of SOAK.md.

usage: soak_md.py SOAK.md RUN.jsonl --command CMD --machine TEXT --commit ID [--note TEXT] [--status RC]

The section is headed "## <client> / <mode>"; a section with that heading is replaced, the others
are kept, so SOAK.md holds the last run of each client and mode. Every figure comes from the JSON.
"""
import argparse
import datetime
import json
import math
import os
import re

HEADER = """# Soak (issue 12 §7)

Written by `tests/bench/soak.sh` (one section per upstream client and mode, replaced by the next
run of the same pair). How the soak works, what it checks and what "must arrive" means:
`tests/bench/README.md`, section "Soak". In short: N MQTT-SN clients over UDP on 127.0.0.1
(60 % steady, 20 % sleepers, 10 % reconnecting with CleanSession=false, 10 % with
CleanSession=true), uplink QoS 0/1/2 in turn at a steady total rate, downlink QoS 0/1/2 in turn
from a plain-socket publisher on the broker side, the gateway's VmRSS and open descriptors sampled
every few seconds; slopes are least-squares fits over the traffic phase after the warm-up.
"""


def fmt(v, digits=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{digits}f}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def per_minute(series):
    """The first sample of every minute, and the last sample."""
    rows, next_minute = [], 0.0
    for i, (t, rss, fds) in enumerate(series):
        if t + 1e-9 >= next_minute or i == len(series) - 1:
            rows.append((t, rss, fds))
            next_minute = math.floor(t / 60.0) * 60.0 + 60.0
    return rows


def section(r, args):
    t = r.get("totals", {})
    q = lambda key, i: t.get(key, [0, 0, 0])[i]
    lines = [f"## {r['client']} / {r['mode']}\n"]
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines.append(f"- Run: {when}, commit `{args.commit}`; exit status of the bench: {args.status}")
    lines.append(f"- Command: `{args.command}`")
    lines.append(f"- Machine: {args.machine}")
    if args.note:
        lines.append(f"- Note: {args.note}")
    roles = t.get("roles", {})
    lines.append(
        f"- Load: {r['clients']:,} clients ({', '.join(f'{v} {k}' for k, v in roles.items())}), "
        f"{fmt(r['duration_s'])} s of traffic then a drain ({fmt(r.get('elapsed_s'))} s in all), "
        f"uplink {fmt(r['up_rate'])} msgs/s offered, downlink {fmt(r['down_rate'])} msgs/s offered; "
        f"samples every {fmt(r['sample_s'])} s")
    verdict = "**PASS**" if r.get("pass") else "**FAIL**"
    lines.append(f"- Verdict: {verdict}" + (f" (error: {r['error']})" if r.get("error") else "") + "\n")

    lines.append("RSS and open descriptors of the gateway (first sample of each minute, and the last):\n")
    rows = [(fmt(tm / 60.0, 1), fmt(rss), fmt(fds)) for tm, rss, fds in per_minute(r.get("series", []))]
    lines.append(table(["t (min)", "VmRSS (KiB)", "open fds"], rows))
    flat = "flat" if r.get("flat") else "**NOT flat**"
    lines.append(
        f"Slopes over {fmt(r.get('warmup_s'))}–{fmt(r['duration_s'])} s ({r.get('slope_samples', 0)} samples, "
        f"least squares): RSS **{fmt(r.get('rss_slope_kib_min'), 1)} KiB/min** (flat within "
        f"±{fmt(r.get('rss_slope_tol_kib_min'))}), open fds **{fmt(r.get('fd_slope_min'), 2)} /min** "
        f"(flat within ±{fmt(r.get('fd_slope_tol_min'), 1)}): {flat}.\n")

    lines.append("Messages (lost and QoS 2 duplicates must be 0):\n")
    lines.append(table(
        ["direction", "QoS", "sent", "acknowledged (up: by the gateway; down: by the broker)", "arrived",
         "lost", "duplicates"],
        [("uplink", 0, q("up_sent", 0), "-", q("up_rx", 0), "-", "-"),
         ("uplink", 1, q("up_sent", 1), q("up_acked", 1), q("up_rx", 1), q("up_lost", 1), q("up_dup", 1)),
         ("uplink", 2, q("up_sent", 2), q("up_acked", 2), q("up_rx", 2), q("up_lost", 2), q("up_dup", 2)),
         ("downlink", 0, q("dl_sent", 0), "-", q("dl_rx", 0), "-", "-"),
         ("downlink", 1, q("dl_sent", 1), q("dl_accepted", 1), q("dl_rx", 1), q("dl_lost", 1), q("dl_dup", 1)),
         ("downlink", 2, q("dl_sent", 2), q("dl_accepted", 2), q("dl_rx", 2), q("dl_lost", 2), q("dl_dup", 2))]))
    lines.append(
        f"Lost by role: uplink {t.get('up_lost_by_role', {})}, downlink {t.get('dl_lost_by_role', {})}. "
        f"Uplink refused or given up (not acknowledged, so not owed): q1 {q('up_refused', 1)}, q2 {q('up_refused', 2)}. "
        f"Downlink the broker never acknowledged: q1 {q('dl_unacked', 1)}, q2 {q('dl_unacked', 2)}. "
        f"Downlink not published because not owed (clean-session reconnect windows): {t.get('dl_excluded', 0)}. "
        f"Drained: {'yes' if r.get('drained') else 'no'}.\n")
    lines.append(
        f"Life cycle: {t.get('connects', 0)} CONNECTs ({t.get('reconnects', 0)} after the start), "
        f"{t.get('sleeps', 0)} sleeps, {t.get('wakes', 0)} wake-ups ({t.get('wake_timeouts', 0)} without PINGRESP), "
        f"{t.get('gateway_disconnects', 0)} DISCONNECTs from the gateway, {t.get('connack_refused', 0)} CONNACKs refused, "
        f"{t.get('retransmissions', 0)} client retransmissions, {t.get('dl_retransmitted', 0)} QoS 2 PUBLISHes "
        f"received again before PUBREL, {t.get('bad_frames', 0)} malformed frames.\n")
    stats = r.get("gw_stats")
    if stats:
        keep = {k: v for k, v in stats.items()
                if re.match(r"(drops/|clients/lost|retransmissions|duplicates|sleep/|wills|upstream/)", k)}
        lines.append("Gateway counters over the run (SIGUSR1): " +
                     ", ".join(f"`{k}` {v}" for k, v in sorted(keep.items())) + ".\n")
    if r.get("lost_examples"):
        lines.append("First lost messages: " + "; ".join(
            f"{e['dir']} gid {e['gid']} seq {e['seq']} QoS {e['qos']} ({e['role']})" for e in r["lost_examples"][:10]) + ".\n")
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("run")
    p.add_argument("--command", required=True)
    p.add_argument("--machine", default="")
    p.add_argument("--commit", default="")
    p.add_argument("--note", default="")
    p.add_argument("--status", default="0")
    args = p.parse_args()
    with open(args.run) as f:
        r = json.loads(f.read().strip().splitlines()[-1])
    text = open(args.out).read() if os.path.exists(args.out) else HEADER
    new = section(r, args)
    heading = f"## {r['client']} / {r['mode']}\n"
    parts = re.split(r"(?m)^(?=## )", text)
    replaced = False
    for i, part in enumerate(parts):
        if part.startswith(heading):
            parts[i] = new
            replaced = True
    if not replaced:
        parts.append(("\n" if not parts[-1].endswith("\n\n") else "") + new)
    with open(args.out, "w") as f:
        f.write("".join(parts).rstrip("\n") + "\n")


if __name__ == "__main__":
    main()
