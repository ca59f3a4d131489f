#!/usr/bin/env python3
"""Renders the summary lines (medians) of mqttsn-bench JSON output as the tables of RESULTS.md."""
import json
import sys


def fmt(value, digits=0):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:,.{digits}f}"
    return str(value)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def main(path):
    summaries = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                record = json.loads(line)
                if record.get("summary"):
                    summaries.append(record)
    by = lambda scenario: [s for s in summaries if s["scenario"] == scenario]
    baseline = {(int(s["clients"]), int(s["qos"])): s for s in by("baseline")}

    def flag(s):
        marks = []
        if s.get("timed_out"):
            marks.append("timed out")
        if s.get("error"):
            marks.append(s["error"])
        return "; ".join(marks)

    up = by("uplink")
    if up:
        print("## Uplink (MQTT-SN clients -> gateway -> broker -> counting subscriber)\n")
        print("Medians over runs. *msgs/s*: unique messages the subscriber received / time from the "
              "start signal to the last arrival. *ratio*: msgs/s over the broker-only baseline with "
              "the same N and QoS. *rtt*: PUBLISH -> PUBACK (QoS 1) / PUBCOMP (QoS 2) at the client. "
              "*e2e*: client send -> subscriber arrival. CPU per message: gateway (and broker) "
              "process CPU over the measured phase / delivered messages.\n")
        rows = []
        for s in up:
            key = (int(s["clients"]), int(s["qos"]))
            base = baseline.get(key, {}).get("delivered_per_s")
            ratio = s.get("delivered_per_s", 0) / base if base else None
            rows.append([s.get("mode", "?"), fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]),
                         fmt(s.get("runs")), fmt(s.get("sent")), fmt(s.get("offered_per_s")),
                         fmt(s.get("delivered_per_s")), fmt(s.get("loss_pct"), 2),
                         fmt(ratio, 2), fmt(s.get("rtt_p50_us")), fmt(s.get("rtt_p99_us")),
                         fmt(s.get("rtt_max_us")), fmt(s.get("e2e_p50_us")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), fmt(s.get("broker_cpu_us_per_msg"), 1),
                         fmt((s.get("gw_hwm_kb") or 0) / 1024, 1), flag(s)])
        print(table(["mode", "N", "QoS", "M", "runs", "sent", "offered/s", "msgs/s", "loss %",
                     "ratio", "rtt p50 µs", "rtt p99 µs", "rtt max µs", "e2e p50 µs",
                     "gw CPU µs/msg", "broker CPU µs/msg", "gw peak RSS MiB", "notes"], rows))

    if baseline:
        print("## Baseline (the same load as plain MQTT publishes straight to the broker)\n")
        print("One Paho C asynchronous client per simulated client in one process, window 1 at "
              "QoS 1/2 (QoS 0: 64 unacknowledged sends per client); *rtt* is Paho's send -> "
              "completion.\n")
        rows = []
        for s in by("baseline"):
            rows.append([fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]), fmt(s.get("runs")),
                         fmt(s.get("sent")), fmt(s.get("offered_per_s")), fmt(s.get("delivered_per_s")),
                         fmt(s.get("loss_pct"), 2), fmt(s.get("rtt_p50_us")), fmt(s.get("rtt_p99_us")),
                         fmt(s.get("rtt_max_us")), fmt(s.get("e2e_p50_us")),
                         fmt(s.get("broker_cpu_us_per_msg"), 1), fmt(s.get("connect_all_s"), 1),
                         flag(s)])
        print(table(["N", "QoS", "M", "runs", "sent", "offered/s", "msgs/s", "loss %", "rtt p50 µs",
                     "rtt p99 µs", "rtt max µs", "e2e p50 µs", "broker CPU µs/msg",
                     "connect all s", "notes"], rows))

    storm = by("connect-storm") + by("idle")
    if storm:
        print("## Connect storm and idle clients\n")
        print("*connects/s*: connected clients / (last CONNACK - first CONNECT). *RSS/client*: gateway "
              "VmRSS growth / connected clients. *gw sockets*: the gateway's open sockets after the "
              "connect (one upstream TCP connection per client in transparent mode). Idle: CPU of "
              "the gateway while the clients only send PINGREQ (keep-alive 10 s, so one every 5 s).\n")
        rows = []
        for s in storm:
            rows.append([s["scenario"], s.get("mode", "?"), fmt(s["clients"]), fmt(s.get("runs")),
                         fmt(s.get("connected")), fmt(s.get("connect_failed")),
                         fmt(s.get("connect_per_s")), fmt((s.get("connect_p50_us") or 0) / 1000, 1),
                         fmt((s.get("connect_p99_us") or 0) / 1000, 1),
                         fmt((s.get("connect_max_us") or 0) / 1000, 1),
                         fmt(s.get("gw_rss_per_client_b")), fmt(s.get("gw_sockets")),
                         fmt(s.get("gw_idle_cpu_pct"), 2), fmt(s.get("pongs")),
                         fmt((s.get("gw_hwm_kb") or 0) / 1024, 1), flag(s)])
        print(table(["scenario", "mode", "N", "runs", "connected", "failed", "connects/s",
                     "connect p50 ms", "p99 ms", "max ms", "gw RSS/client B", "gw sockets",
                     "idle gw CPU %", "PINGRESPs", "gw peak RSS MiB", "notes"], rows))

    down = by("downlink")
    if down:
        print("## Downlink (upstream publisher -> broker -> gateway -> MQTT-SN clients)\n")
        print("One Paho publisher, up to 1,000 messages in flight, to one topic per client; the "
              "clients answer PUBACK / PUBREC+PUBCOMP / REGACK. *e2e*: publisher send -> client "
              "arrival.\n")
        rows = []
        for s in down:
            rows.append([s.get("mode", "?"), fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]),
                         fmt(s.get("runs")), fmt(s.get("sent")), fmt(s.get("delivered")),
                         fmt(s.get("delivered_per_s")), fmt(s.get("loss_pct"), 2),
                         fmt(s.get("e2e_p50_us")), fmt(s.get("e2e_p99_us")), fmt(s.get("e2e_max_us")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), flag(s)])
        print(table(["mode", "N", "QoS", "M", "runs", "published", "received", "msgs/s", "loss %",
                     "e2e p50 µs", "e2e p99 µs", "e2e max µs", "gw CPU µs/msg", "notes"], rows))


if __name__ == "__main__":
    main(sys.argv[1])
