#!/usr/bin/env python3
"""Renders the summary lines (median runs) of mqttsn-bench JSON output as the tables of RESULTS.md.

usage: results_md.py RESULTS.jsonl [--clients "paho native"] [--previous OLD.jsonl]

Every verdict is computed here from the JSON lines of this run; nothing in the output is a fixed
figure. --clients names the gateway clients the run was asked for (a client without rows shows as
"not measured"); the Paho client's figures are compared with those of the reference gateway's rows
of the same run (client "paho-ref", run.sh BENCH_PAHO_REF), or, without them, with --previous, an
earlier run's JSON.
"""
import argparse
import json
import math
import sys

MET, NOT_MET, NOT_MEASURED = "met", "NOT met", "not measured"
MODES = ("transparent", "aggregating")
DEFAULT_CLIENT = "paho"  # lines written before "client" existed come from Paho-only gateways

# Targets, judged per client against the broker-only rows of the same run.
QOS0_CPU_US, QOS0_CPU_BROKER_RATIO = 3.0, 0.25
QOS0_RATIO, QOS0_NS = 0.9, (1, 10, 100, 1000)
# U0-loss counts a paced rate only where the broker alone, offered that same rate, lost nothing and
# held publish -> subscriber p99 within the queue the gateway lets it hold (the default
# upstream.max_broker_delay_ms; run.sh passes BENCH_PACE_E2E_MS as --paced-e2e-ms and picks its
# rates with --absorbs, i.e. by absorbed() below).
PACED_E2E_P99_US = 50_000.0
# ... and let its clients send (send_per_s) at least this share of the rate asked (run.sh
# likewise), and at least as fast as the gateway row's clients sent (within this slack: the two
# rows' clients pace alike but not identically).
PACED_TAKEN_RATIO, PACED_OFFERED_SLACK = 0.95, 1.02
# The row whose profile explains a target not met: (scenario, QoS, N or None for the smallest N
# profiled); run.sh perf_args profiles these rows. Other targets take the uplink QoS 0 profile.
PROFILE_OF = {"U1-cpu": ("uplink", 1, 1), "U1-rtt": ("uplink", 1, 1), "U1-rate": ("uplink", 1, 100),
              "D0-cpu": ("downlink", 0, None), "D1-cpu": ("downlink", 1, None)}
QOS1_CPU_US, QOS1_N100_RATIO = 8.0, 0.9
RTT_P50_EXTRA_US, RTT_P99_RATIO = 30.0, 2.0
DOWN_CPU_US = {0: 5.0, 1: 10.0}
STORM_TRANSPARENT_N, STORM_RATE, STORM_BROKER_RATIO = 10_000, 10_000, 0.8
RSS_LIMIT_B = {"transparent": 4096, "aggregating": 1024}
RSS_N = {"transparent": 10_000, "aggregating": 100_000}
# Overload (issue 11 item 7): QoS 0 offered at OVERLOAD_X x the broker-only msgs/s for a bounded
# time. RSS stays flat: the largest 200 ms VmRSS sample of the measured phase at most
# OVERLOAD_RSS_GROWTH_KB above the sample taken just before it (and the end sample likewise).
# Latency: p99 publish -> subscriber (an upper bound of publish -> broker) of the messages that
# arrived.
OVERLOAD_RSS_GROWTH_KB, OVERLOAD_E2E_P99_US = 20 * 1024, 100_000.0
# A row counts as overload only when it was offered more than the broker alone absorbs.
OVERLOAD_MIN_OFFERED_RATIO = 1.0
# "Stay where they are or improve", with room for run-to-run noise on a shared machine.
PREVIOUS_RATE_RATIO, PREVIOUS_CPU_RATIO = 0.9, 1.1
# The reference for that target measured in the same run (run.sh BENCH_PAHO_REF): the gateway built
# from the last commit before the native client, its rows named client "paho-ref", each beside the
# Paho matrix row with the same load. The ratio of a Paho row to its reference row scatters with a
# standard deviation of 14-18 % here (log ratios of msgs/s and CPU, both modes, RESULTS.jsonl at
# e71ad27), so the ratios above are judged on the geometric mean over the rows of one scenario in
# one mode (uplink: 12 rows, about 5 %; downlink: 6, about 7 %); a row that failed or timed out
# where the reference did not fails the target, and so does one row alone beyond these.
REFERENCE_CLIENT = "paho-ref"
REFERENCE_ROW_RATE_RATIO, REFERENCE_ROW_CPU_RATIO = 0.67, 1.5


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


def ns(values):
    """A list of N without thousands separators, so '1, 10, 1000' stays unambiguous."""
    return ", ".join(str(int(v)) for v in values)


def read_summaries(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if not record.get("summary"):
                continue
            if record["scenario"] in ("baseline", "broker-storm"):
                record["client"] = None
            elif "client" not in record:
                record["client"] = DEFAULT_CLIENT
            record["clients"] = int(record["clients"])
            record["qos"] = int(record["qos"])
            # An uplink row offered at a fixed rate (run.sh: below the broker-only rate of the same
            # N) is a row of its own, never mixed with the rows sent as fast as the clients can.
            if record["scenario"] in ("uplink", "baseline") and (record.get("rate") or 0) > 0:
                record["scenario"] += "-paced"
            out.append(record)
    # A row measured twice (a re-run appended to the same file): the later line counts.
    def key(s):  # broker-only paced rows are one per client and mode (their label says which)
        label = s.get("label") if s["scenario"] == "baseline-paced" else None
        return s["scenario"], s["client"], s.get("mode"), s["clients"], s["qos"], label
    last = {key(s): s for s in out}
    return [s for s in out if last[key(s)] is s]


class Run:
    """The summary lines of one run, indexed the way the targets and tables need them."""

    def __init__(self, summaries, clients):
        self.summaries = summaries
        present = [s["client"] for s in summaries if s["client"]]
        self.clients = list(dict.fromkeys((clients or []) + sorted(set(present), key=present.index)))
        self.baseline = {(s["clients"], s["qos"]): s for s in summaries if s["scenario"] == "baseline"}
        # run.sh measures the broker alone at each paced rate just before each client and mode's
        # paced row of that N (label "broker-only paced before <client> <mode>"): the broker slows
        # over a run, so a row measured at another time would judge another broker.
        self.baseline_paced = {(s.get("label"), s["clients"]): s for s in summaries
                               if s["scenario"] == "baseline-paced"}
        self.broker_storm = {s["clients"]: s for s in summaries if s["scenario"] == "broker-storm"}

    def by_row(self, client, mode):
        """This client's summaries in this mode by (scenario, N, QoS)."""
        return {(s["scenario"], s["clients"], s["qos"]): s for s in self.summaries
                if s["client"] == client and s.get("mode") == mode}

    def rows(self, scenario, client, mode, qos=None):
        out = [s for s in self.summaries if s["scenario"] == scenario and s["client"] == client
               and s.get("mode") == mode and (qos is None or s["qos"] == qos)]
        return sorted(out, key=lambda s: (s["clients"], s["qos"]))

    def base(self, row, key="delivered_per_s"):
        return self.baseline.get((row["clients"], row["qos"]), {}).get(key)

    def paced_pair(self, row):
        """The broker-only paced row measured just before this gateway paced row, or None."""
        return self.baseline_paced.get((f"broker-only paced before {row['client']} {row.get('mode')}",
                                        row["clients"]))

    def modes(self, client):
        """The modes this client has rows for, or both when it has none (so they show as missing)."""
        found = [m for m in MODES if any(s["client"] == client and s.get("mode") == m
                                         for s in self.summaries)]
        return found or list(MODES)

    def profile(self, client, mode, scenario, qos, n=None):
        """The summary of the row profiled for this client and mode (run.sh perf_args) in this
        scenario and QoS, at N=n (None: the smallest N profiled), or None."""
        found = [s for s in self.summaries if s["client"] == client and s.get("mode") == mode
                 and "profile" in s and s["scenario"] == scenario and s["qos"] == qos
                 and (n is None or s["clients"] == n)]
        return min(found, key=lambda s: s["clients"]) if found else None


# ----- Targets -------------------------------------------------------------------------------

def worst(rows, key, pick=max, digits=1, unit=" µs"):
    r = pick(rows, key=lambda s: s[key])
    return f"worst {fmt(r[key], digits)}{unit} (N={r['clients']})"


def t_qos0_cpu(run, client, mode):
    rows = [s for s in run.rows("uplink", client, mode, 0) if s.get("gw_cpu_us_per_msg") is not None]
    if not rows:
        return "no QoS 0 uplink rows with gateway CPU", NOT_MEASURED
    with_broker = [dict(s, share=s["gw_cpu_us_per_msg"] / s["broker_cpu_us_per_msg"]) for s in rows
                   if s.get("broker_cpu_us_per_msg")]
    text = "gateway " + worst(rows, "gw_cpu_us_per_msg") + f" over N={ns(s['clients'] for s in rows)}"
    ok = all(s["gw_cpu_us_per_msg"] <= QOS0_CPU_US for s in rows)
    if with_broker:
        text += "; gateway/broker " + worst(with_broker, "share", digits=2, unit="x")
        ok = ok and all(s["share"] <= QOS0_CPU_BROKER_RATIO for s in with_broker)
    if not ok:
        return text, NOT_MET
    if len(with_broker) < len(rows):
        return text + "; broker CPU missing in some rows", NOT_MEASURED
    return text, MET


def t_qos0_rate(run, client, mode):
    rows = {s["clients"]: s for s in run.rows("uplink", client, mode, 0)}
    parts, missing, ok = [], [], True
    for n in QOS0_NS:
        s = rows.get(n)
        b = run.base(s) if s else None
        if not s or not b or s.get("delivered_per_s") is None:
            missing.append(n)
            continue
        ratio = s["delivered_per_s"] / b
        ok = ok and ratio >= QOS0_RATIO
        parts.append(f"N={n}: {fmt(s['delivered_per_s'])} vs {fmt(b)}/s = {fmt(ratio, 2)}x")
    if missing:
        parts.append(f"no row or no broker-only baseline at N={ns(missing)}")
    verdict = NOT_MET if not ok else (NOT_MEASURED if missing else MET)
    return "; ".join(parts), verdict


def absorbed(bp, row=None):
    """Did the broker alone absorb what this gateway row was offered: its paced row (same N, same
    rate asked) took at least PACED_TAKEN_RATIO of the rate from its clients (TCP back-pressure
    from a broker that cannot keep up shows as less), lost nothing, held publish -> subscriber p99
    within PACED_E2E_P99_US, and took at least what the gateway row (if any) offered? None: no
    such row."""
    if bp is None or bp.get("e2e_p99_us") is None or not bp.get("send_per_s"):
        return None
    # send_per_s: the clients' rate while sending (offered_per_s also spans the last message's way
    # to the subscriber, which a short row feels).
    return ((bp.get("loss_pct") or 0) == 0 and bp["e2e_p99_us"] <= PACED_E2E_P99_US
            and bp["send_per_s"] >= PACED_TAKEN_RATIO * (bp.get("rate") or 0)
            and (row is None or (row.get("send_per_s") or 0) <= bp["send_per_s"] * PACED_OFFERED_SLACK))


def t_qos0_loss(run, client, mode):
    # Judged on the paced rows: QoS 0 offered at a fixed rate at which the broker alone, measured
    # at that same rate in this run (the broker-only paced row of the same N), delivered everything
    # with its queue within PACED_E2E_P99_US. Rows sent as fast as the clients can offer more than
    # the broker takes; what they lose is the broker's limit (U0-rate judges their msgs/s).
    rows = run.rows("uplink-paced", client, mode, 0)
    if not rows:
        return "no paced QoS 0 uplink rows (run.sh BENCH_PACE)", NOT_MEASURED
    parts, counted, verdict = [], 0, MET
    for s in rows:
        loss = s.get("loss_pct") or 0
        bp = run.paced_pair(s)
        ok = absorbed(bp, s)
        if ok is None:
            broker = "no broker-only paced row: not counted"
        else:
            broker = (f"broker alone asked {fmt(bp.get('rate'))}/s took {fmt(bp.get('send_per_s'))}/s, "
                      f"{fmt(bp.get('loss_pct'), 2)} % lost, p99 {fmt(bp['e2e_p99_us'] / 1000, 1)} ms"
                      + ("" if ok else ": did not absorb it, not counted"))
        parts.append(f"N={s['clients']}: {fmt(loss, 2)} % lost, sent at {fmt(s.get('send_per_s'))}/s "
                     f"({broker})"
                     + (f", udp_rcvbuf_drops {fmt(s.get('udp_rcvbuf_drops'))}" if loss > 0 else "")
                     + (f", gateway drops/upstream_publish {fmt(s.get('gw_drops_upstream_publish'))}"
                        if loss > 0 and s.get("gw_drops_upstream_publish") is not None else ""))
        if not ok:
            continue
        counted += 1
        if loss > 0:
            verdict = NOT_MET
    return "; ".join(parts), verdict if counted else NOT_MEASURED


def t_qos1_cpu(run, client, mode):
    rows = [s for s in run.rows("uplink", client, mode, 1) if s.get("gw_cpu_us_per_msg") is not None]
    if not rows:
        return "no QoS 1 uplink rows with gateway CPU", NOT_MEASURED
    ok = all(s["gw_cpu_us_per_msg"] <= QOS1_CPU_US for s in rows)
    return (worst(rows, "gw_cpu_us_per_msg") + f" over N={ns(s['clients'] for s in rows)}",
            MET if ok else NOT_MET)


def t_qos1_n100(run, client, mode):
    row = next((s for s in run.rows("uplink", client, mode, 1) if s["clients"] == 100), None)
    b = run.base(row) if row else None
    if not row or not b or row.get("delivered_per_s") is None:
        return ("no QoS 1 N=100 uplink row" if not row else "no broker-only QoS 1 N=100 row"), NOT_MEASURED
    ratio = row["delivered_per_s"] / b
    return (f"{fmt(row['delivered_per_s'])} vs {fmt(b)}/s = {fmt(ratio, 2)}x",
            MET if ratio >= QOS1_N100_RATIO else NOT_MET)


def t_qos1_rtt(run, client, mode):
    row = next((s for s in run.rows("uplink", client, mode, 1) if s["clients"] == 1), None)
    if not row or row.get("rtt_p50_us") is None:
        return "no QoS 1 N=1 uplink row with rtt", NOT_MEASURED
    b50, b99 = run.base(row, "rtt_p50_us"), run.base(row, "rtt_p99_us")
    if b50 is None or b99 is None:
        return f"p50 {fmt(row['rtt_p50_us'])} µs; no broker-only QoS 1 N=1 rtt", NOT_MEASURED
    ok = row["rtt_p50_us"] <= b50 + RTT_P50_EXTRA_US and row["rtt_p99_us"] <= RTT_P99_RATIO * b99
    return (f"p50 {fmt(row['rtt_p50_us'])} µs (limit {fmt(b50 + RTT_P50_EXTRA_US)}), p99 "
            f"{fmt(row['rtt_p99_us'])} µs (limit {fmt(RTT_P99_RATIO * b99)})", MET if ok else NOT_MET)


def t_down_cpu(qos):
    def check(run, client, mode):
        rows = [s for s in run.rows("downlink", client, mode, qos) if s.get("gw_cpu_us_per_msg") is not None]
        if not rows:
            return f"no QoS {qos} downlink rows with gateway CPU", NOT_MEASURED
        ok = all(s["gw_cpu_us_per_msg"] <= DOWN_CPU_US[qos] for s in rows)
        return (worst(rows, "gw_cpu_us_per_msg") + f" over N={ns(s['clients'] for s in rows)}",
                MET if ok else NOT_MET)
    return check


def t_down_stall(run, client, mode):
    rows = run.rows("downlink", client, mode)
    if not rows:
        return "no downlink rows", NOT_MEASURED
    bad = [s for s in rows if s.get("timed_out") or s.get("error") or s.get("runs_timed_out")
           or s.get("delivered") != s.get("sent")]
    if not bad:
        return f"every message received at N={ns(sorted({s['clients'] for s in rows}))}, QoS " + \
            ", ".join(str(q) for q in sorted({s["qos"] for s in rows})), MET
    return "; ".join(f"N={s['clients']} QoS {s['qos']}: {fmt(s.get('delivered'))}/{fmt(s.get('sent'))}"
                     + (", timed out" if s.get("timed_out") or s.get("runs_timed_out") else "")
                     for s in bad), NOT_MET


def t_storm_rate(run, client, mode):
    storms = [s for s in run.rows("connect-storm", client, mode)
              if s["clients"] >= STORM_TRANSPARENT_N and s.get("connect_per_s") is not None]
    broker = run.broker_storm.get(STORM_TRANSPARENT_N, {}).get("connect_per_s")
    if not storms:
        return f"no connect-storm with N >= {fmt(STORM_TRANSPARENT_N)}", NOT_MEASURED
    s = storms[0]
    rate = s["connect_per_s"]
    text = f"{fmt(rate)}/s at N={fmt(s['clients'])}, {fmt(s.get('connect_failed'))} failed"
    ok_clients = not s.get("connect_failed") and not s.get("timed_out")
    if broker is None:
        text += f"; no broker-storm at N={fmt(STORM_TRANSPARENT_N)}"
        if rate >= STORM_RATE and ok_clients:
            return text, MET  # at or above the higher of the two bounds
        return text, NOT_MEASURED
    need = min(STORM_RATE, STORM_BROKER_RATIO * broker)
    text += f"; broker alone {fmt(broker)}/s, needed {fmt(need)}/s"
    return text, MET if rate >= need and ok_clients else NOT_MET


def t_rss(run, client, mode):
    n_needed = RSS_N[mode]
    storms = [s for s in run.rows("connect-storm", client, mode) if s["clients"] >= n_needed]
    if not storms:
        largest = run.rows("connect-storm", client, mode)
        return (f"no connect-storm with N >= {fmt(n_needed)}"
                + (f" (largest N={fmt(largest[-1]['clients'])})" if largest else "")), NOT_MEASURED
    s = storms[0]
    rss = s.get("gw_rss_per_client_b")
    text = (f"N={fmt(s['clients'])}: {fmt(s.get('connected'))} connected, "
            f"{fmt(s.get('connect_failed'))} failed, {fmt(rss)} B RSS/client")
    if s.get("gw_fresh") is False:
        return text + " (gateway not fresh: RSS not comparable)", NOT_MEASURED
    if "gw_fresh" not in s:
        text += " (older line: fresh gateway not recorded)"
    ok = (s.get("connected") == s["clients"] and not s.get("connect_failed") and not s.get("timed_out")
          and rss is not None and rss <= RSS_LIMIT_B[mode])
    return text, MET if ok else NOT_MET


def overload_row(run, client, mode):
    rows = run.rows("overload", client, mode)
    return rows[-1] if rows else None


def overload_offered(s):
    """'offered X/s = Yx broker-only' and whether the row really offered more than the broker takes."""
    offered, base = overload_send_rate(s), s.get("baseline_per_s")
    if offered is None:
        return "no send rate", False
    if not base:
        return f"sent {fmt(offered)}/s (no broker-only rate recorded)", False
    ratio = offered / base
    return (f"sent {fmt(offered)}/s = {fmt(ratio, 1)}x broker-only {fmt(base)}/s",
            ratio > OVERLOAD_MIN_OFFERED_RATIO)


def overload_send_rate(s):
    """What the clients really offered while they sent (send_per_s: first to last send); the
    shared window of offered_per_s also spans the drain, which would understate it."""
    return s.get("send_per_s") or s.get("offered_per_s")


def t_overload_rss(run, client, mode):
    s = overload_row(run, client, mode)
    if not s:
        return "no overload row", NOT_MEASURED
    offered, overloaded = overload_offered(s)
    start, peak, end = s.get("gw_rss_start_kb"), s.get("gw_rss_peak_kb"), s.get("gw_rss_end_kb")
    if start is None or peak is None or end is None:
        return offered + "; no RSS samples", NOT_MEASURED
    text = (f"N={s['clients']}, {offered}: RSS start {mib(start)}, peak {mib(peak)} (+{mib(peak - start)}), "
            f"end {mib(end)} MiB")
    ok = peak - start <= OVERLOAD_RSS_GROWTH_KB and end - start <= OVERLOAD_RSS_GROWTH_KB
    if not ok:
        return text, NOT_MET
    return (text, MET) if overloaded else (text + "; not offered above broker-only", NOT_MEASURED)


def t_overload_latency(run, client, mode):
    s = overload_row(run, client, mode)
    if not s:
        return "no overload row", NOT_MEASURED
    offered, overloaded = overload_offered(s)
    p99 = s.get("e2e_p99_us")
    if p99 is None:
        return offered + "; no message arrived", NOT_MEASURED
    text = (f"N={s['clients']}, {offered}: p50 {fmt(s.get('e2e_p50_us') / 1000, 1)} ms, p99 "
            f"{fmt(p99 / 1000, 1)} ms of {fmt(s.get('e2e_samples'))} delivered "
            f"({fmt(s.get('delivered_per_s'))}/s)")
    b = run.baseline.get((s["clients"], 0), {})
    if b.get("e2e_p99_us") is not None:
        # The subscriber's share: the broker alone, at its own maximum rate, already queues this much.
        text += f"; broker-only QoS 0 N={s['clients']} e2e p99 {fmt(b['e2e_p99_us'] / 1000, 1)} ms"
    if p99 >= OVERLOAD_E2E_P99_US:
        return text, NOT_MET
    return (text, MET) if overloaded else (text + "; not offered above broker-only", NOT_MEASURED)


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def against_reference(run, client, mode):
    """P-prev judged against the reference gateway's rows of this run, or None when it has none."""
    ref = run.by_row(REFERENCE_CLIENT, mode)
    if not ref:
        return None
    ours = run.by_row(client, mode)
    strata = {}  # scenario -> [(N, msgs/s ratio, CPU ratio or None)]
    outside, gross, failed = [], [], []
    for key in sorted(ref):
        scenario, n, qos = key
        if scenario not in ("uplink", "downlink"):
            continue
        r, s = ref[key], ours.get(key)
        name = f"{scenario} N={n} QoS {qos}"
        if not r.get("delivered_per_s"):
            continue  # the reference failed this row: nothing to compare with
        if not s or not s.get("delivered_per_s") or s.get("timed_out"):
            failed.append(name)  # a row that collapsed is a regression, not a gap in the mean
            continue
        rate = s["delivered_per_s"] / r["delivered_per_s"]
        parts = [f"{fmt(s['delivered_per_s'])} vs {fmt(r['delivered_per_s'])} msgs/s ({fmt(rate, 3)}x)"]
        cpu = None
        if s.get("gw_cpu_us_per_msg") and r.get("gw_cpu_us_per_msg"):
            cpu = s["gw_cpu_us_per_msg"] / r["gw_cpu_us_per_msg"]
            parts.append(f"{fmt(s['gw_cpu_us_per_msg'], 1)} vs {fmt(r['gw_cpu_us_per_msg'], 1)} µs/msg "
                         f"({fmt(cpu, 3)}x)")
        strata.setdefault(scenario, []).append((n, rate, cpu))
        if rate < PREVIOUS_RATE_RATIO or (cpu is not None and cpu > PREVIOUS_CPU_RATIO):
            outside.append(f"{name}: " + ", ".join(parts))
        if rate < REFERENCE_ROW_RATE_RATIO or (cpu is not None and cpu > REFERENCE_ROW_CPU_RATIO):
            gross.append(name)
    if not strata and not failed:
        return "no Paho row of this run has a reference row beside it", NOT_MEASURED

    def means(rows):
        cpus = [c for _, _, c in rows if c is not None]
        return geomean([r for _, r, _ in rows]), geomean(cpus) if cpus else None

    texts, ok = [], not gross and not failed
    for scenario, rows in strata.items():
        rate_mean, cpu_mean = means(rows)
        ok = ok and rate_mean >= PREVIOUS_RATE_RATIO and (cpu_mean is None or cpu_mean <= PREVIOUS_CPU_RATIO)
        by_n = []
        for n in sorted({n for n, _, _ in rows}):
            n_rate, n_cpu = means([row for row in rows if row[0] == n])
            by_n.append(f"N={n} {fmt(n_rate, 2)}x / {fmt(n_cpu, 2)}x")
        texts.append(f"{scenario} ({len(rows)} rows) msgs/s {fmt(rate_mean, 3)}x, CPU/msg "
                     f"{fmt(cpu_mean, 3)}x (by N, msgs/s / CPU: {', '.join(by_n)})")
    text = (f"against the reference gateway ({REFERENCE_CLIENT}) in this run, geometric means: "
            + "; ".join(texts) + f" (limits {PREVIOUS_RATE_RATIO}x / {PREVIOUS_CPU_RATIO}x per scenario)")
    if failed:
        text += "; failed or timed out where the reference did not: " + ", ".join(failed)
    if gross:
        text += (f"; beyond {REFERENCE_ROW_RATE_RATIO}x msgs/s or {REFERENCE_ROW_CPU_RATIO}x CPU alone: "
                 + ", ".join(gross))
    if outside:
        text += f"; {len(outside)} rows outside {PREVIOUS_RATE_RATIO}x/{PREVIOUS_CPU_RATIO}x: " + "; ".join(outside)
    return text, MET if ok else NOT_MET


def t_previous(previous):
    def check(run, client, mode):
        same_run = against_reference(run, client, mode)
        if same_run is not None:
            return same_run
        if previous is None:
            return "no earlier results given (results_md.py --previous)", NOT_MEASURED
        old = previous.by_row(client, mode)
        worse, compared = [], 0
        for s in run.summaries:
            if s["client"] != client or s.get("mode") != mode or s["scenario"] not in ("uplink", "downlink"):
                continue
            o = old.get((s["scenario"], s["clients"], s["qos"]))
            if not o:
                continue
            compared += 1
            name = f"{s['scenario']} N={s['clients']} QoS {s['qos']}"
            if (s.get("delivered_per_s") or 0) < PREVIOUS_RATE_RATIO * (o.get("delivered_per_s") or 0):
                worse.append(f"{name}: {fmt(s.get('delivered_per_s'))} vs {fmt(o.get('delivered_per_s'))} msgs/s")
            if (s.get("gw_cpu_us_per_msg") is not None and o.get("gw_cpu_us_per_msg") is not None
                    and s["gw_cpu_us_per_msg"] > PREVIOUS_CPU_RATIO * o["gw_cpu_us_per_msg"]):
                worse.append(f"{name}: {fmt(s['gw_cpu_us_per_msg'], 1)} vs {fmt(o['gw_cpu_us_per_msg'], 1)} µs/msg")
        if compared == 0:
            return "no row of the earlier results matches this run's rows", NOT_MEASURED
        prefix = "against the previous run's file (no reference gateway in this run): "
        if worse:
            # A row can be worse in msgs/s and in CPU: count rows, list both.
            rows_worse = len({w.split(":")[0] for w in worse})
            return prefix + f"{rows_worse} of {compared} rows worse: " + "; ".join(worse[:6]), NOT_MET
        return prefix + (f"{compared} rows within {fmt(PREVIOUS_RATE_RATIO, 1)}x msgs/s and "
                         f"{fmt(PREVIOUS_CPU_RATIO, 1)}x CPU of the earlier results"), MET
    return check


def target_list(previous):
    """(id, text, modes, check, clients) in the order of the table."""
    return [
        ("U0-cpu", f"QoS 0 uplink: gateway CPU <= {fmt(QOS0_CPU_US)} µs/msg and <= "
                   f"{QOS0_CPU_BROKER_RATIO}x the broker's CPU/msg (same row)", MODES, t_qos0_cpu, None),
        ("U0-rate", f"QoS 0 uplink msgs/s >= {QOS0_RATIO}x broker-only at N={ns(QOS0_NS)}", MODES,
         t_qos0_rate, None),
        ("U0-loss", "QoS 0 uplink: no loss in the gateway at any offered rate the broker alone absorbs "
                    "(paced rows)",
         MODES, t_qos0_loss, None),
        ("U1-cpu", f"QoS 1 uplink: gateway CPU <= {fmt(QOS1_CPU_US)} µs/msg", MODES, t_qos1_cpu, None),
        ("U1-rate", f"QoS 1 uplink N=100 msgs/s >= {QOS1_N100_RATIO}x broker-only", MODES, t_qos1_n100, None),
        ("U1-rtt", f"QoS 1 round trip N=1: p50 <= broker-only p50 + {fmt(RTT_P50_EXTRA_US)} µs, p99 <= "
                   f"{fmt(RTT_P99_RATIO)}x broker-only p99", MODES, t_qos1_rtt, None),
        ("D0-cpu", f"downlink: gateway CPU <= {fmt(DOWN_CPU_US[0])} µs per QoS 0 delivery", MODES,
         t_down_cpu(0), None),
        ("D1-cpu", f"downlink: gateway CPU <= {fmt(DOWN_CPU_US[1])} µs per QoS 1 delivery", MODES,
         t_down_cpu(1), None),
        ("D-stall", "downlink never stalls: every message received, no timeout", MODES, t_down_stall, None),
        ("T-storm", f"{fmt(STORM_TRANSPARENT_N)}-client connect storm >= min({fmt(STORM_RATE)}/s, "
                    f"{STORM_BROKER_RATIO}x broker alone accepting {fmt(STORM_TRANSPARENT_N)} MQTT clients)",
         ("transparent",), t_storm_rate, None),
        ("T-rss", f"{fmt(RSS_N['transparent'])} clients at <= {fmt(RSS_LIMIT_B['transparent'])} B RSS each "
                  "(fresh gateway)", ("transparent",), t_rss, None),
        ("A-rss", f"{fmt(RSS_N['aggregating'])} clients connected at <= {fmt(RSS_LIMIT_B['aggregating'])} B "
                  "RSS each (fresh gateway)", ("aggregating",), t_rss, None),
        ("O-rss", f"overload (QoS 0 offered at ~10x broker-only): gateway RSS flat, i.e. peak and end of the "
                  f"200 ms VmRSS samples <= start + {mib(OVERLOAD_RSS_GROWTH_KB)} MiB (target set for native)",
         MODES, t_overload_rss, None),
        ("O-lat", f"overload: publish -> subscriber p99 (bounds publish -> broker) < "
                  f"{fmt(OVERLOAD_E2E_P99_US / 1000)} ms for the messages that arrived (target set for native)",
         MODES, t_overload_latency, None),
        ("P-prev", f"Paho's figures stay or improve (msgs/s >= {PREVIOUS_RATE_RATIO}x, CPU/msg <= "
                   f"{PREVIOUS_CPU_RATIO}x, geometric mean per scenario, of the gateway before the native "
                   "client measured beside it; without it, of the previous run, row by row)",
         MODES, t_previous(previous), ("paho",)),
    ]


def print_targets(run, previous):
    rows, failed = [], {}
    for tid, text, modes, check, only in target_list(previous):
        for client in run.clients:
            if (only and client not in only) or client == REFERENCE_CLIENT:
                continue
            for mode in modes:
                if mode not in run.modes(client):
                    continue
                measured, verdict = check(run, client, mode)
                rows.append([tid, text, client, mode, measured, verdict])
                if verdict == NOT_MET:
                    failed.setdefault((client, mode), []).append(tid)
    print("## Targets\n")
    print("Judged by `results_md.py` from the summary lines (each the median run) of this run's JSON, "
          "per upstream client of the gateway, against the broker-only rows of the same run "
          "(plain-socket MQTT clients straight to the broker). Loss (U0-loss) is judged on the paced "
          "rows: QoS 0 offered at a fixed rate that the broker alone absorbs, i.e. the broker-only "
          "paced row of the same N, asked the same rate just before the gateway row, let its clients send at "
          f"{fmt(PACED_TAKEN_RATIO * 100)} % of it or more (TCP did not hold them back) and at least as "
          "fast as the gateway row's clients sent, lost "
          f"nothing and held publish -> subscriber p99 within {fmt(PACED_E2E_P99_US / 1000)} ms (the "
          "gateway's default upstream.max_broker_delay_ms); a gateway row whose broker-only row did "
          "not is shown and not counted. Overload (O-rss, O-lat): the overload row of the client and mode, sent "
          "above the broker-only QoS 0 msgs/s measured at the start of the same run; its latency "
          "is publish -> subscriber, an upper bound of publish -> broker that also holds the "
          "broker's queue towards the subscriber (the broker-only row of the same N shows that "
          "share). P-prev compares the Paho client with the reference gateway (client "
          f"{REFERENCE_CLIENT}, built from an earlier commit, see Machine) measured beside each Paho "
          "row of the uplink and downlink matrix. *not measured*: the rows a target needs are not "
          "in this run.\n")
    print(table(["target", "what", "client", "mode", "measured (rows)", "verdict"], rows))
    if not failed:
        return
    print("### Targets not met\n")
    print("Each with the profile taken in this run of the row it is judged on (`perf record -g` of "
          "the gateway during one extra, unmeasured run of that row; share of samples by object, then "
          "the top symbols). Targets with no row of their own (storms, RSS, overload, P-prev) share "
          "the uplink QoS 0 profile.\n")
    for (client, mode), ids in failed.items():
        groups = {}
        for tid in ids:
            scenario, qos, n = PROFILE_OF.get(tid, ("uplink", 0, None))
            s = (run.profile(client, mode, scenario, qos, n) or run.profile(client, mode, scenario, qos)
                 or run.profile(client, mode, "uplink", 0))
            key = id(s) if s else None
            groups.setdefault(key, (s, []))[1].append(tid)
        print(f"**{client}, {mode}** ({', '.join(ids)}):\n")
        for s, tids in groups.values():
            text = f"- {', '.join(tids)}: "
            profile = s.get("profile") if s else None
            if isinstance(profile, dict) and profile.get("by_dso"):
                text += (f"profile of {s['scenario']} N={s['clients']} QoS {s['qos']}: "
                         + "; ".join(" ".join(l.split()) for l in profile["by_dso"][:8]))
                if profile.get("by_symbol"):
                    text += ". Top symbols: " + "; ".join(" ".join(l.split()) for l in profile["by_symbol"][:8])
                text += "."
            elif isinstance(profile, str):
                text += profile + "."
            else:
                text += "no profile in this run."
            print(text)
        print()


# ----- Tables --------------------------------------------------------------------------------

def mib(kb):
    return fmt(kb / 1024, 1) if kb is not None else "-"


def flag(s):
    marks = []
    if s.get("timed_out"):
        marks.append("timed out")
    elif s.get("runs_timed_out"):
        marks.append(f"{s['runs_timed_out']} of {s.get('runs')} runs timed out")
    if s.get("error"):
        marks.append(s["error"])
    return "; ".join(marks)


def side_by_side(run):
    """Uplink, downlink and storms: each client and broker-only in one row."""
    clients = run.clients
    keys = sorted({(s.get("mode"), s["clients"], s["qos"]) for s in run.summaries if s["scenario"] == "uplink"},
                  key=lambda k: (MODES.index(k[0]) if k[0] in MODES else 9, k[1], k[2]))
    if keys or run.baseline:
        print("## Side by side: uplink\n")
        print("msgs/s over the same window as offered/s; *x*: over broker-only with the same N and "
              "QoS; CPU: µs of process CPU per delivered message; rtt: QoS 1/2 round trip p50 at the "
              "client.\n")
        if not keys:  # broker-only alone
            keys = [(None, n, q) for (n, q) in sorted(run.baseline)]
        header = ["mode", "N", "QoS"]
        for c in clients:
            header += [f"{c} msgs/s", f"{c} x", f"{c} gw CPU", f"{c} rtt p50"]
        header += ["broker-only msgs/s", "broker-only rtt p50", "broker CPU (broker-only)"]
        rows = []
        for mode, n, q in keys:
            b = run.baseline.get((n, q), {})
            row = [mode or "-", fmt(n), fmt(q)]
            for c in clients:
                s = next((r for r in run.rows("uplink", c, mode, q) if r["clients"] == n), {})
                rate, base = s.get("delivered_per_s"), b.get("delivered_per_s")
                row += [fmt(rate), fmt(rate / base, 2) if rate and base else "-",
                        fmt(s.get("gw_cpu_us_per_msg"), 1), fmt(s.get("rtt_p50_us"))]
            row += [fmt(b.get("delivered_per_s")), fmt(b.get("rtt_p50_us")), fmt(b.get("broker_cpu_us_per_msg"), 1)]
            rows.append(row)
        print(table(header, rows))

    storm_keys = sorted({(s.get("mode"), s["clients"]) for s in run.summaries if s["scenario"] == "connect-storm"},
                        key=lambda k: (MODES.index(k[0]) if k[0] in MODES else 9, k[1]))
    if storm_keys or run.broker_storm:
        print("## Side by side: connect storms\n")
        print("connects/s: connected clients / (last CONNACK - first CONNECT); RSS/client from a "
              "gateway started fresh for that run; broker-only: plain-socket MQTT clients connecting "
              "straight to the broker.\n")
        if not storm_keys:
            storm_keys = [(None, n) for n in sorted(run.broker_storm)]
        # The reference gateway is measured only beside the uplink and downlink rows.
        storm_clients = [c for c in clients if c != REFERENCE_CLIENT]
        header = ["mode", "N"]
        for c in storm_clients:
            header += [f"{c} connects/s", f"{c} RSS/client B"]
        header += ["broker-only connects/s"]
        rows = []
        for mode, n in storm_keys:
            row = [mode or "-", fmt(n)]
            for c in storm_clients:
                s = next((r for r in run.rows("connect-storm", c, mode) if r["clients"] == n), {})
                row += [fmt(s.get("connect_per_s")), fmt(s.get("gw_rss_per_client_b"))]
            row.append(fmt(run.broker_storm.get(n, {}).get("connect_per_s")))
            rows.append(row)
        print(table(header, rows))

    down_keys = sorted({(s.get("mode"), s["clients"], s["qos"]) for s in run.summaries if s["scenario"] == "downlink"},
                       key=lambda k: (MODES.index(k[0]) if k[0] in MODES else 9, k[1], k[2]))
    if down_keys:
        print("## Side by side: downlink\n")
        header = ["mode", "N", "QoS"]
        for c in clients:
            header += [f"{c} msgs/s", f"{c} gw CPU µs/delivery", f"{c} loss %"]
        rows = []
        for mode, n, q in down_keys:
            row = [mode, fmt(n), fmt(q)]
            for c in clients:
                s = next((r for r in run.rows("downlink", c, mode, q) if r["clients"] == n), {})
                row += [fmt(s.get("delivered_per_s")), fmt(s.get("gw_cpu_us_per_msg"), 1),
                        fmt(s.get("loss_pct"), 2)]
            rows.append(row)
        print(table(header, rows))


def details(run):
    by = lambda scenario: [s for s in run.summaries if s["scenario"] == scenario]
    up = by("uplink")
    if up:
        print("## Uplink (MQTT-SN clients -> gateway -> broker -> counting subscriber)\n")
        print("The median run (by msgs/s) of each row. *offered/s* and *msgs/s*: sent and unique "
              "received messages over one window, first send to the last send, acknowledgement or "
              "arrival; *send/s*: the clients' own send rate. *ratio*: msgs/s over broker-only with "
              "the same N and QoS. *rtt*: PUBLISH -> PUBACK (QoS 1) / PUBCOMP (QoS 2) at the client. "
              "*e2e*: client send -> subscriber arrival. CPU per message: process CPU over the "
              "measured phase / delivered messages.\n")
        rows = []
        for s in up:
            base = run.base(s)
            ratio = (s.get("delivered_per_s") or 0) / base if base else None
            rows.append([s["client"], s.get("mode", "?"), fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]),
                         fmt(s.get("runs")), fmt(s.get("sent")), fmt(s.get("offered_per_s")),
                         fmt(s.get("delivered_per_s")), fmt(s.get("send_per_s")), fmt(s.get("loss_pct"), 2),
                         fmt(ratio, 2), fmt(s.get("rtt_p50_us")), fmt(s.get("rtt_p99_us")),
                         fmt(s.get("rtt_max_us")), fmt(s.get("e2e_p50_us")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), fmt(s.get("broker_cpu_us_per_msg"), 1),
                         mib(s.get("gw_hwm_kb")), flag(s)])
        print(table(["client", "mode", "N", "QoS", "M", "runs", "sent", "offered/s", "msgs/s", "send/s",
                     "loss %", "ratio", "rtt p50 µs", "rtt p99 µs", "rtt max µs", "e2e p50 µs",
                     "gw CPU µs/msg", "broker CPU µs/msg", "gw peak RSS MiB", "notes"], rows))

    paced = by("uplink-paced")
    if paced:
        print("## Uplink paced at a rate the broker alone absorbs (QoS 0)\n")
        print("Each row offers a fixed rate that run.sh found first: the broker alone, offered it, "
              f"lost nothing and held publish -> subscriber p99 within {fmt(PACED_E2E_P99_US / 1000)} ms "
              "(from `BENCH_PACE` x the broker-only msgs/s of the same N, lowered by a seventh at a "
              "time until it did). The broker-only paced columns are the broker alone at that "
              "rate, measured just before the gateway row; anything the gateway lost where they show the broker "
              "absorbing it is the gateway's. The median run of each row.\n")
        rows = []
        for s in paced:
            base = run.base(s)
            bp = run.paced_pair(s) or {}
            rows.append([s["client"], s.get("mode", "?"), fmt(s["clients"]), fmt(s.get("rate")),
                         fmt(s.get("offered_per_s")), fmt(s.get("delivered_per_s")), fmt(base),
                         fmt((s.get("offered_per_s") or 0) / base, 2) if base else "-",
                         fmt(s.get("loss_pct"), 2), fmt(s.get("udp_rcvbuf_drops")),
                         fmt(s.get("e2e_p50_us")), fmt(s.get("e2e_p99_us")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), fmt(bp.get("delivered_per_s")),
                         fmt(bp.get("loss_pct"), 2), fmt(bp.get("e2e_p99_us")), flag(s)])
        print(table(["client", "mode", "N", "rate asked", "offered/s", "msgs/s", "broker-only msgs/s",
                     "offered x broker-only", "loss %", "udp rcvbuf drops", "e2e p50 µs", "e2e p99 µs",
                     "gw CPU µs/msg", "broker-only paced msgs/s", "broker-only paced loss %",
                     "broker-only paced e2e p99 µs", "notes"], rows))

    if run.baseline:
        print("## Broker-only baseline (the same load from plain-socket MQTT clients straight to the broker)\n")
        print("All clients of a worker process on one thread, one TCP connection each, window 1 at "
              "QoS 1/2, QoS 0 bounded by TCP back-pressure; *rtt*: PUBLISH -> PUBACK/PUBCOMP.\n")
        rows = []
        for s in by("baseline"):
            rows.append([fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]), fmt(s.get("runs")),
                         fmt(s.get("sent")), fmt(s.get("offered_per_s")), fmt(s.get("delivered_per_s")),
                         fmt(s.get("loss_pct"), 2), fmt(s.get("rtt_p50_us")), fmt(s.get("rtt_p99_us")),
                         fmt(s.get("rtt_max_us")), fmt(s.get("e2e_p50_us")),
                         fmt(s.get("broker_cpu_us_per_msg"), 1), fmt(s.get("connect_all_s"), 1), flag(s)])
        print(table(["N", "QoS", "M", "runs", "sent", "offered/s", "msgs/s", "loss %", "rtt p50 µs",
                     "rtt p99 µs", "rtt max µs", "e2e p50 µs", "broker CPU µs/msg", "connect all s",
                     "notes"], rows))

    storm = by("connect-storm") + by("idle") + by("broker-storm")
    if storm:
        print("## Connect storm and idle clients\n")
        print("*connects/s*: connected clients / (last CONNACK - first CONNECT). *RSS/client*: gateway "
              "VmRSS growth / connected clients, on a gateway started fresh for the run (*fresh*). "
              "*gw sockets*: the gateway's open sockets after the connect (one upstream TCP "
              "connection per client in transparent mode). *listen overflows*: SYNs dropped at a "
              "full listen backlog during the run (system-wide). Idle: CPU of the gateway while the "
              "clients only send PINGREQ.\n")
        rows = []
        for s in storm:
            rows.append([s["scenario"], s["client"] or "-", s.get("mode", "?"), fmt(s["clients"]),
                         fmt(s.get("runs")), fmt(s.get("connected")), fmt(s.get("connect_failed")),
                         fmt(s.get("connect_per_s")), fmt((s.get("connect_p50_us") or 0) / 1000, 1),
                         fmt((s.get("connect_p99_us") or 0) / 1000, 1),
                         fmt(s.get("gw_rss_per_client_b")), fmt(s.get("gw_fresh")), fmt(s.get("gw_sockets")),
                         fmt(s.get("tcp_listen_overflows")), fmt(s.get("gw_idle_cpu_pct"), 2),
                         mib(s.get("gw_hwm_kb")), flag(s)])
        print(table(["scenario", "client", "mode", "N", "runs", "connected", "failed", "connects/s",
                     "connect p50 ms", "p99 ms", "gw RSS/client B", "fresh", "gw sockets",
                     "listen overflows", "idle gw CPU %", "gw peak RSS MiB", "notes"], rows))

    over = by("overload")
    if over:
        print("## Overload (QoS 0 offered above what the broker alone absorbs, for a bounded time)\n")
        print("*sent/s*: the clients' send rate while sending (`send_per_s`); *x*: that over the "
              "broker-only QoS 0 msgs/s the rate was derived from "
              "(`baseline_per_s`). RSS: VmRSS of the gateway sampled every 200 ms from just before "
              "the first send to the end of the drain (start, largest, last). *e2e*: client send -> "
              "subscriber arrival of the messages that arrived. Drops: the gateway's own counters "
              "over the run (SIGUSR1 stats before and after): *upstream_publish* = QoS 0 refused by "
              "the upstream client or beyond `upstream.max_queued_messages`; *udp rcvbuf*: the "
              "kernel's UDP receive-buffer drops (system-wide) during the run.\n")
        rows = []
        for s in over:
            base = s.get("baseline_per_s")
            offered = overload_send_rate(s)
            rows.append([s["client"], s.get("mode", "?"), fmt(s["clients"]), fmt(s.get("send_duration_s"), 1),
                         fmt(offered), fmt(offered / base, 1) if offered and base else "-",
                         fmt(s.get("sent")), fmt(s.get("gw_messages_in_qos0")), fmt(s.get("delivered")),
                         fmt(s.get("delivered_per_s")), fmt(s.get("loss_pct"), 1),
                         fmt(s.get("e2e_p50_us")), fmt(s.get("e2e_p99_us")),
                         mib(s.get("gw_rss_start_kb")), mib(s.get("gw_rss_peak_kb")), mib(s.get("gw_rss_end_kb")),
                         fmt(s.get("gw_drops_upstream_publish")), fmt(s.get("udp_rcvbuf_drops")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), flag(s) or s.get("gw_stats_error", "")])
        print(table(["client", "mode", "N", "send s", "sent/s", "x", "sent", "gw in", "delivered",
                     "msgs/s", "loss %", "e2e p50 µs", "e2e p99 µs", "RSS start MiB", "RSS peak MiB",
                     "RSS end MiB", "drops upstream_publish", "udp rcvbuf drops", "gw CPU µs/msg", "notes"],
                    rows))

    down = by("downlink")
    if down:
        print("## Downlink (upstream publisher -> broker -> gateway -> MQTT-SN clients)\n")
        print("One plain-socket publisher, up to 1,000 QoS 1/2 messages in flight, to one topic per "
              "client; the clients answer PUBACK / PUBREC+PUBCOMP / REGACK. *e2e*: publisher send -> "
              "client arrival. gw CPU per delivery: gateway CPU / messages the clients received.\n")
        rows = []
        for s in down:
            rows.append([s["client"], s.get("mode", "?"), fmt(s["clients"]), fmt(s["qos"]), fmt(s["messages"]),
                         fmt(s.get("runs")), fmt(s.get("sent")), fmt(s.get("delivered")),
                         fmt(s.get("delivered_per_s")), fmt(s.get("loss_pct"), 2),
                         fmt(s.get("e2e_p50_us")), fmt(s.get("e2e_p99_us")), fmt(s.get("e2e_max_us")),
                         fmt(s.get("gw_cpu_us_per_msg"), 1), flag(s)])
        print(table(["client", "mode", "N", "QoS", "M", "runs", "published", "received", "msgs/s",
                     "loss %", "e2e p50 µs", "e2e p99 µs", "e2e max µs", "gw CPU µs/delivery", "notes"],
                    rows))


def main():
    global PACED_E2E_P99_US
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("jsonl")
    parser.add_argument("--clients", default="", help='gateway clients the run was asked for, e.g. "paho native"')
    parser.add_argument("--previous", help="an earlier run's JSON lines, for the Paho no-regression target")
    parser.add_argument("--paced-e2e-ms", type=float, default=PACED_E2E_P99_US / 1000,
                        help="U0-loss: the publish -> subscriber p99 within which the broker alone "
                             "absorbs a paced rate (run.sh BENCH_PACE_E2E_MS)")
    parser.add_argument("--absorbs", action="store_true",
                        help="jsonl is one broker-only paced row: exit 0 when the broker absorbed its "
                             "rate (the U0-loss rule), 1 when not; print nothing else")
    args = parser.parse_args()
    PACED_E2E_P99_US = args.paced_e2e_ms * 1000
    if args.absorbs:
        rows = [s for s in read_summaries(args.jsonl) if s["scenario"] == "baseline-paced"]
        sys.exit(0 if rows and absorbed(rows[-1]) else 1)
    run = Run(read_summaries(args.jsonl), args.clients.split())
    previous = None
    if args.previous:
        try:
            previous = Run(read_summaries(args.previous), [])
        except (OSError, ValueError):
            previous = None
    print_targets(run, previous)
    side_by_side(run)
    details(run)


if __name__ == "__main__":
    main()
