#include "options.hpp"

#include <cstdlib>
#include <map>
#include <string>

#include <CLI/CLI.hpp>

namespace bench {

const char* to_string(Scenario scenario) {
  switch (scenario) {
    case Scenario::uplink: return "uplink";
    case Scenario::downlink: return "downlink";
    case Scenario::connect_storm: return "connect-storm";
    case Scenario::idle: return "idle";
    case Scenario::baseline: return "baseline";
    case Scenario::broker_storm: return "broker-storm";
    case Scenario::overload: return "overload";
    case Scenario::soak: return "soak";
  }
  return "?";
}

Options parse_options(int argc, char** argv) {
  Options o;
  CLI::App app{
      "mqttsn-bench: drives an MQTT-SN gateway with simulated UDP clients and measures it.\n"
      "Scenarios: uplink, downlink, connect-storm, idle, overload (QoS 0 uplink at --rate for "
      "--duration-s, gateway RSS sampled every 200 ms, drop counters from its SIGUSR1 stats), soak (N clients for --duration-s: mixed QoS 0/1/2 up "
      "and down, sleepers, reconnects; gateway RSS and open fds sampled, slopes judged, loss "
      "counted; see README.md); broker-only: baseline (the uplink load "
      "straight to the broker) and broker-storm (N MQTT clients connecting to the broker), both on "
      "plain sockets, no gateway.",
      "mqttsn-bench"};
  app.footer("Only loopback addresses are used. Exit status: 0 ok, 1 run failed, 2 bad usage.");
  const std::map<std::string, Scenario> scenarios{{"uplink", Scenario::uplink},
                                                  {"downlink", Scenario::downlink},
                                                  {"connect-storm", Scenario::connect_storm},
                                                  {"idle", Scenario::idle},
                                                  {"baseline", Scenario::baseline},
                                                  {"broker-storm", Scenario::broker_storm},
                                                  {"overload", Scenario::overload},
                                                  {"soak", Scenario::soak}};
  app.add_option("scenario", o.scenario, "uplink | downlink | connect-storm | idle | overload | soak | baseline | broker-storm")
      ->required()
      ->transform(CLI::CheckedTransformer(scenarios, CLI::ignore_case));
  app.add_option("-n,--clients", o.clients, "Simulated clients")->check(CLI::Range(1u, 1000000u));
  app.add_option("-m,--messages", o.messages, "Messages per client")->check(CLI::Range(0u, 100000000u));
  app.add_option("-s,--size", o.size, "Payload octets")->check(CLI::Range(0u, 60000u));
  app.add_option("-q,--qos", o.qos, "QoS 0, 1 or 2")->check(CLI::Range(0, 2));
  app.add_option("-r,--rate", o.rate, "Total msgs/s (connects/s for connect-storm); 0 = max")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--timeout", o.timeout_s, "Seconds one run may take, set-up included")
      ->check(CLI::Range(1.0, 86400.0));
  app.add_option("--runs", o.runs, "Repetitions; the summary gives medians")->check(CLI::Range(1, 100));
  app.add_option("--workers", o.workers, "Worker processes (0 = as needed for the fd limit)");
  app.add_option("--max-clients-per-worker", o.max_clients_per_worker,
                 "Clients one worker serves (0 = from RLIMIT_NOFILE)");
  app.add_option("--gateway", o.gateway, "UDP host:port of the gateway (loopback only)");
  app.add_option("--gateway-pid", o.gateway_pid, "PID of that gateway, for CPU and RSS");
  app.add_flag("--start-gateway", o.start_gateway,
               "Start a gateway of our own (generated config, free UDP port on 127.0.0.1)");
  app.add_option("--gateway-bin", o.gateway_bin, "Gateway executable for --start-gateway");
  app.add_option("--mode", o.mode, "gateway.mode for --start-gateway")
      ->check(CLI::IsMember({"transparent", "aggregating"}));
  app.add_option("--client", o.client,
                 "Upstream MQTT client of the started gateway (upstream.client; the key is written only "
                 "for a client other than paho)")
      ->check(CLI::IsMember({"paho", "native"}));
  app.add_option("--as-client", o.as_client,
                 "The client the JSON names instead of --client: another build of the gateway "
                 "measured beside this one (run.sh: paho-ref, a gateway built from an earlier commit)");
  app.add_flag("--fresh-gateway", o.fresh_gateway,
               "With --start-gateway: a new gateway for every run (always so for connect-storm and "
               "idle, whose RSS per client needs one)");
  app.add_option("--perf", o.perf_file,
                 "After the measured runs, one extra run under `perf record -g` of the gateway, into "
                 "this file; a summary goes into the JSON summary line (\"profile\")");
  app.add_option("--gateway-log-level", o.gateway_log_level, "log.level for --start-gateway")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error"}));
  app.add_option("--broker", o.broker, "MQTT broker URI (tcp://127.0.0.1:PORT)");
  app.add_option("--json", o.json_file, "Append one JSON line per run and a summary line ('-' = stdout)");
  app.add_option("--label", o.label, "Free text copied into the JSON");
  app.add_option("--keepalive-s", o.keepalive_s, "CONNECT keep-alive of the clients")
      ->check(CLI::Range(1u, 65535u));
  app.add_option("--clean-session", o.clean_session,
                 "CONNECT CleanSession of the clients (1 or 0; 0: sessions the store keeps)");
  app.add_option("--persistence", o.persistence,
                 "--start-gateway: the session store (persistence.path in the gateway's scratch "
                 "directory) with this durability, or none")
      ->check(CLI::IsMember({"none", "normal", "full"}));
  app.add_option("--duration-s", o.duration_s,
                 "idle: seconds the clients are held; overload: seconds the clients send")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_option("--baseline-per-s", o.baseline_per_s,
                 "overload: the broker-only QoS 0 msgs/s --rate was derived from (copied into the JSON)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--retry-ms", o.retry_ms, "Client retransmission timeout")->check(CLI::Range(10u, 600000u));
  app.add_option("--retries", o.retries, "Client retransmissions before giving up")->check(CLI::Range(0u, 100u));
  app.add_option("--connect-window", o.connect_window, "Outstanding CONNECTs per worker")
      ->check(CLI::Range(1u, 1000000u));
  app.add_option("--sub-qos", o.sub_qos, "QoS of the counting subscriber")->check(CLI::Range(0, 1));
  app.add_option("--down-window", o.down_window, "Downlink publisher: messages in flight")
      ->check(CLI::Range(1u, 65535u));
  app.add_option("--drain-ms", o.drain_ms, "End a run when nothing arrived for this long")
      ->check(CLI::Range(10u, 600000u));
  app.add_flag("--quiet", o.quiet, "No table on stdout");
  app.add_option("--flood-ports", o.flood_ports,
                 "During the run, CONNECTs from this many source ports of 127.0.0.10 (0 = none)")
      ->check(CLI::Range(0u, 60000u));
  app.add_option("--flood-rate", o.flood_rate, "CONNECTs a second of the flood")
      ->check(CLI::Range(1u, 1000000u));
  app.add_flag("--default-limits", o.default_limits,
               "--start-gateway keeps the gateway's flood limits (max_connecting, per-address rate)");
  app.add_option("--dtls-clients", o.dtls, "(worker) the same as --dtls")->group("");
  app.add_flag("--dtls", o.dtls,
               "Clients speak DTLS 1.2 with a PSK (--start-gateway adds a DTLS transport for them)");
  app.add_flag("--expect-no-loss", o.expect_no_loss,
               "Exit 1 when a run lost a message, failed a client or timed out");
  app.add_option("--broker-pid", o.broker_pid, "PID of the broker, to report its CPU too");
  app.add_option("--down-rate", o.down_rate, "soak: total downlink msgs/s from the broker side")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--sample-s", o.sample_s, "soak: seconds between samples of the gateway's RSS and fds")
      ->check(CLI::Range(0.2, 3600.0));
  app.add_option("--warmup-s", o.warmup_s, "soak: seconds after go left out of the slopes")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--drain-s", o.drain_s, "soak: bound on delivering what is owed after the traffic phase")
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--rss-slope-tol", o.rss_slope_tol_kib_min, "soak: flat RSS = |slope| <= this KiB/min")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fd-slope-tol", o.fd_slope_tol_min, "soak: flat fds = |slope| <= this fds/min")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--keep-gateway-log", o.keep_gateway_log,
                 "with --start-gateway: copy the gateway's log (--gateway-log-level and above; soak: "
                 "info) to this file at the end");
  auto* worker = app.add_flag("--worker", o.worker, "(internal) run as a worker");
  app.add_option("--client-begin", o.client_begin, "(internal)")->needs(worker);
  app.add_option("--client-end", o.client_end, "(internal)")->needs(worker);
  app.add_option("--tag", o.tag, "(internal) run tag")->needs(worker);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    std::exit(app.exit(error) == 0 ? 0 : 2);
  }
  if (o.scenario == Scenario::soak && !o.worker) {
    // The soak: 1,000 clients for 10 minutes at a few hundred msgs/s, unless told otherwise.
    if (app.count("--clients") == 0) o.clients = 1000;
    if (app.count("--duration-s") == 0) o.duration_s = 600;
    if (app.count("--rate") == 0) o.rate = 200;
    if (app.count("--timeout") == 0) o.timeout_s = o.duration_s + o.drain_s + 300;
  }
  return o;
}

std::vector<std::string> worker_args(const Options& o, std::uint32_t begin, std::uint32_t end,
                                     const std::string& tag) {
  return {to_string(o.scenario),
          "--worker",
          "--client-begin", std::to_string(begin),
          "--client-end", std::to_string(end),
          "--tag", tag,
          "--clients", std::to_string(o.clients),
          "--messages", std::to_string(o.messages),
          "--size", std::to_string(o.size),
          "--qos", std::to_string(o.qos),
          "--rate", std::to_string(o.rate),
          "--timeout", std::to_string(o.timeout_s),
          "--gateway", o.gateway,
          "--keepalive-s", std::to_string(o.keepalive_s),
          "--clean-session", o.clean_session ? "1" : "0",
          "--duration-s", std::to_string(o.duration_s),
          "--retry-ms", std::to_string(o.retry_ms),
          "--retries", std::to_string(o.retries),
          "--connect-window", std::to_string(o.connect_window),
          "--broker", o.broker,
          "--down-rate", std::to_string(o.down_rate),
          "--drain-s", std::to_string(o.drain_s),
          "--dtls-clients", o.dtls ? "1" : "0"};
}

}  // namespace bench
