// mqttsn-bench: see options.cpp (--help) and README.md beside this file. The process the user
// starts is the coordinator: it starts the gateway (or measures one by PID), the counting
// subscriber, and the worker processes that simulate the MQTT-SN clients (or, broker-only, the
// MQTT clients); it times the measured phase, samples /proc of the gateway and the broker before
// and after, and reports.

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "child_process.hpp"
#include "histogram.hpp"
#include "mqtt_side.hpp"
#include "flood.hpp"
#include "options.hpp"
#include "overload_probe.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "sn_worker.hpp"
#include "soak.hpp"
#include "soak_worker.hpp"

namespace bench {
namespace {

using nlohmann::json;

// The bench only ever talks to this machine (issue 6): loopback literals or "localhost".
bool is_loopback_host(std::string host) {
  if (!host.empty() && host.front() == '[') host = host.substr(1, host.size() - 2);
  return host == "127.0.0.1" || host == "::1" || host == "localhost";
}

std::string host_of_hostport(const std::string& hostport) {
  const auto colon = hostport.rfind(':');
  return colon == std::string::npos ? hostport : hostport.substr(0, colon);
}

std::string host_of_uri(const std::string& uri) {
  const auto scheme = uri.find("://");
  return host_of_hostport(scheme == std::string::npos ? uri : uri.substr(scheme + 3));
}

// The first executable called `name` on PATH, or nothing.
std::optional<std::string> find_in_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (std::size_t at = 0; at <= dirs.size();) {
    const auto colon = std::min(dirs.find(':', at), dirs.size());
    const std::string candidate = dirs.substr(at, colon - at) + "/" + name;
    if (colon > at && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    at = colon + 1;
  }
  return std::nullopt;
}

// The lines of `file`, at most `limit`, blank lines skipped.
std::vector<std::string> read_lines(const std::filesystem::path& file, std::size_t limit) {
  std::vector<std::string> lines;
  std::ifstream in(file);
  for (std::string line; lines.size() < limit && std::getline(in, line);) {
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  }
  return lines;
}

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

void add_latency(json& out, const std::string& prefix, const Histogram& h) {
  if (h.count() == 0) return;
  out[prefix + "_p50_us"] = us(h.percentile(0.50));
  out[prefix + "_p99_us"] = us(h.percentile(0.99));
  out[prefix + "_max_us"] = us(h.max());
  out[prefix + "_samples"] = h.count();
}

struct Sampler {
  pid_t pid = 0;
  std::optional<ProcSample> sample() const {
    return pid > 0 ? sample_process(pid) : std::nullopt;
  }
};

// CPU, memory and sockets of a process between two samples, into `out` under `prefix`.
void add_process(json& out, const std::string& prefix, const std::optional<ProcSample>& before,
                 const std::optional<ProcSample>& after, double messages) {
  if (!before || !after) return;
  const double cpu = after->cpu_precise_s > 0 ? after->cpu_precise_s - before->cpu_precise_s
                                              : after->cpu_s - before->cpu_s;
  out[prefix + "_cpu_s"] = cpu;
  out[prefix + "_cpu_ticks_s"] = after->cpu_s - before->cpu_s;
  if (messages > 0) {
    out[prefix + "_cpu_us_per_msg"] = cpu * 1e6 / messages;
    out[prefix + "_cpu_s_per_1k"] = cpu * 1000.0 / messages;
  }
  if (prefix == "gw") {
    out["gw_rss_before_kb"] = before->rss_kb;
    out["gw_rss_kb"] = after->rss_kb;
    out["gw_hwm_kb"] = after->hwm_kb;
    out["gw_threads"] = after->threads;
    out["gw_sockets"] = after->sockets;
  }
}

class Coordinator {
 public:
  explicit Coordinator(Options o) : o_(std::move(o)) {
    if (o_.scenario == Scenario::overload) {
      // Overload offers QoS 0 only: with --rate, each client's share of rate x duration bounds
      // the count (the subscriber sizes its bookkeeping by it); the time bound ends the sending.
      o_.qos = 0;
      if (o_.rate > 0) {
        o_.messages = static_cast<std::uint32_t>(
            std::ceil(o_.rate * o_.duration_s / static_cast<double>(o_.clients)));
      }
      // The counters come as one info line on SIGUSR1.
      if (o_.gateway_log_level == "warn" || o_.gateway_log_level == "error") o_.gateway_log_level = "info";
    }
    if ((o_.scenario == Scenario::soak || o_.scenario == Scenario::uplink ||
         o_.scenario == Scenario::downlink) &&
        (o_.gateway_log_level == "warn" || o_.gateway_log_level == "error")) {
      // Its SIGUSR1 counters (drops/...) explain a loss. Info adds lines while clients connect,
      // before the measured phase, and none per message.
      o_.gateway_log_level = "info";
    }
  }

  int run() {
    nofile_ = raise_nofile_limit();
    if (!is_loopback_host(host_of_hostport(o_.gateway)) || !is_loopback_host(host_of_uri(o_.broker))) {
      std::cerr << "mqttsn-bench: only loopback addresses (127.0.0.1, ::1, localhost) are allowed\n";
      return 2;
    }
    if (o_.start_gateway && !broker_only()) {
      if (int status = start_gateway(); status != 0) return status;
    }
    sampler_.pid = gateway_ ? gateway_->pid() : o_.gateway_pid;
    if (o_.scenario == Scenario::soak) return soak();
    if (broker_only()) sampler_.pid = 0;  // no gateway in the path
    broker_.pid = o_.broker_pid;
    if (o_.scenario == Scenario::uplink || o_.scenario == Scenario::baseline ||
        o_.scenario == Scenario::overload) {
      subscriber_ = std::make_unique<Subscriber>(o_.broker, o_.sub_qos);
    }
    if (!o_.quiet) {
      std::printf("mqttsn-bench %s: N=%u M=%u S=%u QoS %d rate %s, gateway %s (pid %d, %s), broker %s\n",
                  to_string(o_.scenario), o_.clients, o_.messages, o_.size, o_.qos,
                  o_.rate > 0 ? std::to_string(o_.rate).c_str() : "max", o_.gateway.c_str(),
                  static_cast<int>(sampler_.pid), o_.mode.c_str(), o_.broker.c_str());
      print_table_header();
    }
    std::vector<json> runs;
    bool ok = true;
    for (int r = 1; r <= o_.runs; ++r) {
      // The first run's gateway has only answered SEARCHGW: it is fresh.
      bool fresh = gateway_ != nullptr && r == 1;
      if (gateway_ && r > 1 && fresh_gateway_per_run()) {
        if (int status = restart_gateway(); status != 0) return status;
        fresh = true;
      }
      const std::string tag = std::to_string(::getpid() % 100000) + "r" + std::to_string(r);
      json result = run_once(tag, false);
      result["run"] = r;
      if (gateway_) result["gw_fresh"] = fresh;
      ok = ok && acceptable(result);
      if (!o_.quiet) print_table_row("run " + std::to_string(r), result);
      append_json(o_.json_file, result);
      runs.push_back(std::move(result));
    }
    json summary = median_of(runs, key_metric(o_.scenario));
    if (!o_.perf_file.empty()) summary["profile"] = profiled_run();
    if (!o_.quiet) print_table_row("median", summary);
    append_json(o_.json_file, summary);
    if (gateway_) {
      if (!o_.quiet) {
        const auto log = gateway_->log();
        const auto warnings = std::count(log.begin(), log.end(), '\n');
        std::printf("gateway log: %ld lines (%s and above)\n", static_cast<long>(warnings),
                    o_.gateway_log_level.c_str());
      }
      gateway_->stop();
      if (!o_.keep_gateway_log.empty()) std::ofstream(o_.keep_gateway_log) << gateway_->log();
    }
    return o_.expect_no_loss && !ok ? 1 : 0;
  }

 private:
  // One soak run (soak.hpp): its JSON line, the report, and 1 unless flat and nothing lost.
  int soak() {
    if (sampler_.pid <= 0) {
      std::cerr << "mqttsn-bench soak: needs --start-gateway or --gateway-pid (RSS and fds are sampled)\n";
      return 2;
    }
    const std::string tag = std::to_string(::getpid() % 100000) + "s";
    auto stats = [this]() -> std::optional<GatewayStats> {
      if (!gateway_) return std::nullopt;
      return request_stats(*gateway_, std::chrono::milliseconds(3000));
    };
    json result = run_soak(o_, sampler_.pid, tag, stats);
    if (gateway_) {
      gateway_->stop();
      // The log goes with the gateway's temporary directory; a loss is explained by it.
      if (!o_.keep_gateway_log.empty()) std::ofstream(o_.keep_gateway_log) << gateway_->log();
    }
    if (!o_.quiet) print_soak(result);
    append_json(o_.json_file, result);
    return result.value("pass", false) ? 0 : 1;
  }

  bool broker_only() const {
    return o_.scenario == Scenario::baseline || o_.scenario == Scenario::broker_storm;
  }

  // RSS per client is the growth of a gateway that served nothing before: connect-storm and idle
  // (or --fresh-gateway) get a new gateway for every run.
  bool fresh_gateway_per_run() const {
    return o_.fresh_gateway || o_.scenario == Scenario::connect_storm || o_.scenario == Scenario::idle;
  }

  int restart_gateway() {
    gateway_->stop();
    gateway_.reset();
    if (int status = start_gateway(); status != 0) return status;
    sampler_.pid = gateway_->pid();
    return 0;
  }

  // One more run, not counted in the summary, with `perf record -g` attached to the gateway for
  // its measured phase; returns the summary for the JSON (or why there is none).
  json profiled_run() {
    if (sampler_.pid <= 0) return "no profile in this run (no gateway process to profile)";
    const auto perf = find_in_path("perf");
    if (!perf) return "no profile in this run (perf not found)";
    if (gateway_ && fresh_gateway_per_run()) {
      if (restart_gateway() != 0) return "no profile in this run (the gateway did not restart)";
    }
    perf_binary_ = *perf;
    const std::string tag = std::to_string(::getpid() % 100000) + "p";
    json result = run_once(tag, true);
    result["profiled"] = true;
    append_json(o_.json_file, result);
    if (!result.contains("profile")) return "no profile in this run (perf record failed)";
    return result["profile"];
  }

  // Starts perf record on the gateway; nothing when it cannot.
  std::unique_ptr<Child> start_perf() {
    try {
      auto child = std::make_unique<Child>(
          perf_binary_,
          std::vector<std::string>{"record", "-g", "-q", "-o", o_.perf_file, "-p", std::to_string(sampler_.pid)},
          false, o_.perf_file + ".log");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));  // let it attach
      return child;
    } catch (const std::runtime_error&) {
      return nullptr;
    }
  }

  // Ends perf record (SIGINT: it writes its file and exits) and summarises the file by shared
  // object and by symbol.
  json finish_perf(Child& perf) {
    ::kill(perf.pid(), SIGINT);
    perf.stop(std::chrono::milliseconds(20000), true);
    json profile = {{"file", o_.perf_file}};
    for (const auto& [key, sort] : {std::pair{"by_dso", "dso"}, std::pair{"by_symbol", "dso,sym"}}) {
      const std::string out = o_.perf_file + "." + key + ".txt";
      try {
        Child report(perf_binary_,
                     {"report", "-i", o_.perf_file, "--stdio", "--no-children", "-q", "-g", "none", "--sort", sort,
                      "--percent-limit", "1"},
                     false, out);
        report.stop(std::chrono::milliseconds(60000), true);
      } catch (const std::runtime_error&) {
        continue;
      }
      auto lines = read_lines(out, 15);
      // "Error: ... has no samples" and the like: no summary rather than an error text as data.
      if (!lines.empty() && lines.front().find("Error") != std::string::npos) continue;
      for (auto& line : lines) line = line.substr(std::min(line.find_first_not_of(' '), line.size()));
      profile[key] = std::move(lines);
    }
    if (profile.value("by_dso", json::array()).empty()) return {};
    return profile;
  }

  int start_gateway() {
    GatewayLaunch launch;
    launch.binary = o_.gateway_bin;
    if (launch.binary.empty()) {
      const std::string exe = self_exe();
      launch.binary = exe.substr(0, exe.rfind('/') + 1) + "mqttsn-gateway";
    }
    launch.broker = o_.broker;
    launch.mode = o_.mode;
    launch.client = o_.client;
    launch.log_level = o_.gateway_log_level;
    launch.persistence = o_.persistence;
    launch.default_limits = o_.default_limits;
    launch.dtls = o_.dtls;
    try {
      gateway_ = std::make_unique<GatewayProcess>(launch);
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      if (o_.mode != "transparent" && what.find("mode") != std::string::npos) {
        std::cerr << o_.mode << ": not supported by this gateway build\n" << what << "\n";
        return 3;
      }
      if (o_.client != "paho") {
        // Never fall back to the default client: the run would measure Paho under another name.
        std::cerr << "mqttsn-bench: the gateway did not start with upstream.client \"" << o_.client
                  << "\" (not supported by this gateway build?)\n" << what << "\n";
        return 4;
      }
      std::cerr << "mqttsn-bench: " << what << "\n";
      return 1;
    }
    o_.gateway = "127.0.0.1:" + std::to_string(o_.dtls ? gateway_->dtls_port() : gateway_->port());
    return 0;
  }

  bool acceptable(const json& r) const {
    if (r.value("timed_out", false) || r.contains("error")) return false;
    if (r.value("loss_pct", 0.0) > 0) return false;
    return r.value("connect_failed", 0.0) == 0;
  }

  std::uint32_t worker_count() const {
    std::uint64_t per_worker = o_.max_clients_per_worker;
    if (per_worker == 0) per_worker = nofile_ > 200 ? nofile_ - 100 : 100;
    std::uint64_t k = o_.workers;
    if (k == 0) k = (o_.clients + per_worker - 1) / per_worker;
    return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(k, 1, o_.clients));
  }

  json base(const std::string& tag) const {
    json out = base_fields(tag);
    if (o_.scenario == Scenario::overload) {
      out["send_duration_s"] = o_.duration_s;
      if (o_.baseline_per_s > 0) out["baseline_per_s"] = o_.baseline_per_s;
    }
    return out;
  }

  json base_fields(const std::string& tag) const {
    return {{"scenario", to_string(o_.scenario)},
            {"mode", broker_only() ? "broker-only" : o_.mode},
            {"client", broker_only() ? json(nullptr) : json(o_.as_client.empty() ? o_.client : o_.as_client)},
            {"qos", o_.qos},
            {"clients", o_.clients},
            {"messages", o_.messages},
            {"size", o_.size},
            {"rate", o_.rate},
            {"label", o_.label},
            {"clean_session", o_.clean_session},
            {"persistence", o_.persistence},
            {"tag", tag}};
  }

  static constexpr std::chrono::milliseconds kRssPeriod{200};

  // Overload: VmRSS sampled every kRssPeriod from just before "go" to the end of the drain.
  // Start is the first sample, end the last, peak the largest (not VmHWM, which remembers set-up
  // and earlier runs of the same gateway).
  void add_rss_series(json& out, const std::vector<std::uint64_t>& kb) const {
    if (kb.empty()) return;
    out["gw_rss_start_kb"] = kb.front();
    out["gw_rss_peak_kb"] = *std::max_element(kb.begin(), kb.end());
    out["gw_rss_end_kb"] = kb.back();
    out["gw_rss_period_ms"] = kRssPeriod.count();
    out["gw_rss_series_kb"] = kb;
  }

  // The gateway's counters over the measured phase (SIGUSR1 before and after: the gateway may
  // have served earlier runs). Without them (a gateway we did not start has no log
  // here) only the kernel's udp_rcvbuf_drops tells of drops.
  static void add_stats_delta(json& out, const std::optional<GatewayStats>& before,
                              const std::optional<GatewayStats>& after) {
    if (!before || !after) {
      out["gw_stats_error"] = "no stats line from the gateway (not started by the bench, or it did not answer SIGUSR1)";
      return;
    }
    json delta = json::object();
    for (const auto& [name, value] : *after) {
      const auto it = before->find(name);
      // Gauges (clients/active, ...) can fall; a delta below zero reads as the value after.
      delta[name] = it == before->end() || it->second > value ? value : value - it->second;
    }
    out["gw_stats"] = delta;
    out["gw_drops_upstream_publish"] = delta.value("drops/upstream_publish", std::uint64_t{0});
    out["gw_drops_upstream_congestion"] = delta.value("drops/upstream_congestion", std::uint64_t{0});
    out["gw_drops_downlink"] = delta.value("drops/downlink", std::uint64_t{0});
    out["gw_messages_in_qos0"] = delta.value("messages/in/qos0", std::uint64_t{0});
    out["gw_upstream_dropped_events"] = delta.value("upstream/dropped_events", std::uint64_t{0});
  }

  json run_once(const std::string& tag, bool profile) {
    json out = base(tag);
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::milliseconds(static_cast<std::int64_t>(o_.timeout_s * 1000));
    const Ns deadline_ns = now_ns() + static_cast<Ns>(o_.timeout_s * 1e9);
    if (subscriber_) subscriber_->reset(tag, o_.clients, o_.messages);

    // Workers: contiguous client ranges.
    const std::uint32_t k = worker_count();
    out["workers"] = k;
    std::vector<std::unique_ptr<Child>> workers;
    const std::string exe = self_exe();
    for (std::uint32_t i = 0; i < k; ++i) {
      const auto begin = static_cast<std::uint32_t>(std::uint64_t{o_.clients} * i / k);
      const auto end = static_cast<std::uint32_t>(std::uint64_t{o_.clients} * (i + 1) / k);
      workers.push_back(std::make_unique<Child>(exe, worker_args(o_, begin, end, tag), true));
    }
    std::vector<Child*> children;
    for (auto& w : workers) children.push_back(w.get());

    std::vector<std::optional<std::string>> ready;
    if (!wait_for_word(children, "ready", deadline, ready)) {
      out["error"] = "workers not ready in time";
    }
    std::uint64_t setup_connected = 0;
    for (const auto& r : ready) {
      if (r) setup_connected += json::parse(*r).value("connected", std::uint64_t{0});
    }
    out["setup_connected"] = setup_connected;

    const bool overload = o_.scenario == Scenario::overload;
    // The gateway's counters over the run say where a loss happened (drops/...). Asked before
    // the CPU samples are taken and after, so that answering is not counted.
    const bool counted = overload || o_.scenario == Scenario::uplink ||
                         o_.scenario == Scenario::downlink;
    std::optional<GatewayStats> stats_before;
    if (counted && gateway_) stats_before = request_stats(*gateway_, std::chrono::milliseconds(2000));
    std::unique_ptr<RssSampler> rss;
    if (overload && sampler_.pid > 0) rss = std::make_unique<RssSampler>(sampler_.pid, kRssPeriod);
    const auto gw_before = sampler_.sample();
    const auto broker_before = broker_.sample();
    const auto udp_drops_before = udp_receive_buffer_errors();
    const auto listen_overflows_before = tcp_listen_overflows();
    std::unique_ptr<Child> perf = profile ? start_perf() : nullptr;
    const Ns go_ns = now_ns();
    for (Child* c : children) c->send_line("go");

    std::unique_ptr<Flood> flood;
    if (o_.flood_ports > 0) flood = std::make_unique<Flood>(o_.gateway, o_.flood_ports, o_.flood_rate);

    std::optional<PublishStats> downlink;
    if (o_.scenario == Scenario::downlink) downlink = publish_downlink(o_, tag, deadline_ns);

    // Done: every worker said so, or nothing moved for the stall window, or the deadline.
    const auto stall = std::chrono::milliseconds(
        o_.scenario == Scenario::connect_storm || o_.scenario == Scenario::idle
            ? std::uint64_t{o_.retry_ms} * (o_.retries + 1) + o_.drain_ms
            : o_.drain_ms + o_.retry_ms);
    std::vector<std::optional<std::string>> done;
    std::uint64_t last_progress = 0;
    auto last_change = Clock::now();
    while (!wait_for_word(children, "done", std::min(deadline, Clock::now() + std::chrono::milliseconds(250)), done)) {
      std::uint64_t progress = 0;
      for (Child* c : children) progress += c->progress();
      if (progress != last_progress) {
        last_progress = progress;
        last_change = Clock::now();
      }
      if (Clock::now() >= deadline || Clock::now() - last_change >= stall) {
        out["timed_out"] = true;
        break;
      }
    }
    std::uint64_t sent = 0;
    for (const auto& d : done) {
      if (d) sent += json::parse(*d).value("sent", std::uint64_t{0});
    }

    // Uplink: wait for the broker side to receive everything (or stop moving).
    if (subscriber_) wait_drained(sent, deadline);
    if (flood) {
      out["flood_ports"] = o_.flood_ports;
      out["flood_sent"] = flood->stop();
    }

    std::optional<ProcSample> idle_start;
    if (o_.scenario == Scenario::idle) {
      idle_start = sampler_.sample();
      const auto until = std::min(deadline, Clock::now() + std::chrono::milliseconds(
                                                                 static_cast<std::int64_t>(o_.duration_s * 1000)));
      std::this_thread::sleep_until(until);
    }
    const auto gw_after = sampler_.sample();
    const auto broker_after = broker_.sample();
    if (rss) add_rss_series(out, rss->stop());
    if (counted) {
      std::optional<GatewayStats> stats_after;
      if (gateway_) stats_after = request_stats(*gateway_, std::chrono::milliseconds(2000));
      add_stats_delta(out, stats_before, stats_after);
    }
    if (perf) {
      if (json summary = finish_perf(*perf); !summary.empty()) out["profile"] = std::move(summary);
    }
    out["udp_rcvbuf_drops"] = udp_receive_buffer_errors() - udp_drops_before;
    out["tcp_listen_overflows"] = tcp_listen_overflows() - listen_overflows_before;

    for (Child* c : children) c->send_line("end");
    std::vector<std::optional<std::string>> results;
    wait_for_word(children, "result", Clock::now() + std::chrono::seconds(10), results);
    for (auto& w : workers) w->stop(std::chrono::milliseconds(5000), true);

    const Window window = aggregate(out, results, go_ns);
    if (downlink) add_publisher(out, *downlink, window);
    if (subscriber_) add_subscriber(out, window);

    const double messages = out.value("delivered", 0.0);
    add_process(out, "gw", gw_before, gw_after, messages);
    add_process(out, "broker", broker_before, broker_after, messages);
    if (gw_before && gw_after) {
      const double connected = out.value("connected", 0.0);
      if (connected > 0) {
        out["gw_rss_per_client_b"] =
            (static_cast<double>(gw_after->rss_kb) - static_cast<double>(gw_before->rss_kb)) * 1024.0 / connected;
      }
      if (idle_start) {
        const double cpu = gw_after->cpu_precise_s - idle_start->cpu_precise_s;
        out["gw_idle_cpu_pct"] = cpu * 100.0 / o_.duration_s;
        out["gw_idle_rss_kb"] = idle_start->rss_kb;
        if (connected > 0) {
          out["gw_rss_per_client_b"] =
              (static_cast<double>(idle_start->rss_kb) - static_cast<double>(gw_before->rss_kb)) * 1024.0 / connected;
        }
      }
    }
    if (o_.scenario == Scenario::connect_storm || o_.scenario == Scenario::idle ||
        o_.scenario == Scenario::broker_storm) {
      out.erase("gw_cpu_us_per_msg");
      out.erase("gw_cpu_s_per_1k");
      out.erase("broker_cpu_us_per_msg");
      out.erase("broker_cpu_s_per_1k");
    }
    out["elapsed_s"] = std::chrono::duration<double>(Clock::now() - start).count();
    return out;
  }

  void wait_drained(std::uint64_t expected, Clock::time_point deadline) {
    std::uint64_t last = subscriber_->unique();
    auto last_change = Clock::now();
    while (subscriber_->unique() < expected && Clock::now() < deadline &&
           Clock::now() - last_change < std::chrono::milliseconds(o_.drain_ms)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      if (const auto now = subscriber_->unique(); now != last) {
        last = now;
        last_change = Clock::now();
      }
    }
  }

  // The measured window of the messages: from the first send to the last send, acknowledgement or
  // arrival, whichever is last. Offered/s and msgs/s both divide by it.
  struct Window {
    Ns go = 0;
    Ns first_send = 0;
    Ns last_done = 0;
    Ns last_rx = 0;
  };

  Window aggregate(json& out, const std::vector<std::optional<std::string>>& results, Ns go_ns) const {
    Histogram rtt, connect_latency, e2e;
    Ns first_connect = 0, last_connack = 0, first_send = 0, last_done = 0, last_rx = 0;
    const char* sums[] = {"connected", "connect_failed", "setup_failed", "socket_errors", "sent",
                          "acknowledged", "refused", "gave_up", "retransmissions", "send_errors",
                          "rx_unique", "rx_dup", "rx_foreign", "pings", "pongs",
                          "gateway_disconnects", "bad_frames"};
    std::size_t missing = 0;
    for (const char* key : sums) out[key] = 0;
    for (const auto& line : results) {
      if (!line) {
        ++missing;
        continue;
      }
      const json r = json::parse(*line);
      for (const char* key : sums) out[key] = out[key].get<std::uint64_t>() + r.value(key, std::uint64_t{0});
      rtt.merge(Histogram::from_json(r["rtt"]));
      connect_latency.merge(Histogram::from_json(r["connect_latency"]));
      e2e.merge(Histogram::from_json(r["e2e"]));
      auto earliest = [](Ns& into, Ns v) { if (v != 0 && (into == 0 || v < into)) into = v; };
      earliest(first_connect, r.value("first_connect_ns", Ns{0}));
      earliest(first_send, r.value("first_send_ns", Ns{0}));
      last_connack = std::max(last_connack, r.value("last_connack_ns", Ns{0}));
      last_done = std::max(last_done, r.value("last_done_ns", Ns{0}));
      last_rx = std::max(last_rx, r.value("last_rx_ns", Ns{0}));
      if (r.value("timed_out", false)) out["timed_out"] = true;
    }
    if (missing > 0) out["error"] = std::to_string(missing) + " worker(s) sent no result";
    if (!out.contains("timed_out")) out["timed_out"] = false;
    add_latency(out, "rtt", rtt);
    add_latency(out, "connect", connect_latency);
    if (o_.scenario == Scenario::connect_storm || o_.scenario == Scenario::idle ||
        o_.scenario == Scenario::broker_storm) {
      if (last_connack > first_connect && first_connect != 0) {
        out["connect_s"] = static_cast<double>(last_connack - first_connect) / 1e9;
        out["connect_per_s"] = out["connected"].get<double>() / out["connect_s"].get<double>();
      }
    }
    if (o_.scenario == Scenario::baseline) {
      double connect_all = 0;
      for (const auto& line : results) {
        if (line) connect_all = std::max(connect_all, json::parse(*line).value("connect_all_s", 0.0));
      }
      out["connect_all_s"] = connect_all;
    }
    if ((o_.scenario == Scenario::uplink || o_.scenario == Scenario::baseline ||
         o_.scenario == Scenario::overload) && first_send != 0 &&
        last_done > first_send) {
      // The clients' own send rate (first to last send or acknowledgement), for reference only.
      out["send_per_s"] = out["sent"].get<double>() / (static_cast<double>(last_done - first_send) / 1e9);
    }
    if (o_.scenario == Scenario::downlink) {
      add_latency(out, "e2e", e2e);
      const auto expected = std::uint64_t{o_.clients} * o_.messages;
      out["delivered"] = out["rx_unique"];
      out["duplicates"] = out["rx_dup"];
      out["loss_pct"] = expected == 0 ? 0.0
                                      : 100.0 * (1.0 - out["rx_unique"].get<double>() / static_cast<double>(expected));
    }
    return Window{go_ns, first_send, last_done, last_rx};
  }

  // offered_per_s and delivered_per_s over one window: first send -> the later of the last
  // send/acknowledgement and the last arrival.
  static void add_rates(json& out, Ns first_send, Ns end, double sent, double delivered) {
    if (first_send == 0 || end <= first_send) return;
    const double window_s = static_cast<double>(end - first_send) / 1e9;
    out["window_s"] = window_s;
    out["duration_s"] = window_s;
    out["offered_per_s"] = sent / window_s;
    out["delivered_per_s"] = delivered / window_s;
  }

  void add_subscriber(json& out, const Window& w) const {
    const auto counts = subscriber_->counts();
    const double sent = out.value("sent", 0.0);
    out["delivered"] = counts.unique;
    out["duplicates"] = counts.duplicates;
    out["foreign"] = counts.foreign;
    out["loss_pct"] = sent > 0 ? 100.0 * (1.0 - static_cast<double>(counts.unique) / sent) : 0.0;
    add_rates(out, w.first_send, std::max(w.last_done, counts.last_ns), sent,
              static_cast<double>(counts.unique));
    add_latency(out, "e2e", counts.e2e);
    if (!subscriber_->connected()) out["error"] = "subscriber lost its connection";
  }

  static void add_publisher(json& out, const PublishStats& p, const Window& w) {
    add_rates(out, p.first_send_ns, std::max(p.last_done_ns, w.last_rx), static_cast<double>(p.sent),
              out.value("delivered", 0.0));
    out["publisher_sent"] = p.sent;
    out["sent"] = p.sent;
    out["publisher_acknowledged"] = p.acknowledged;
    out["publisher_failed"] = p.failed;
    if (p.timed_out) out["timed_out"] = true;
    if (p.connect_failed != 0) out["error"] = "downlink publisher could not connect";
  }

  Options o_;
  std::uint64_t nofile_ = 1024;
  std::unique_ptr<GatewayProcess> gateway_;
  std::unique_ptr<Subscriber> subscriber_;
  Sampler sampler_;
  Sampler broker_;
  std::string perf_binary_;
};

}  // namespace
}  // namespace bench

int main(int argc, char** argv) {
  const bench::Options options = bench::parse_options(argc, argv);
  if (options.worker) {
    return options.scenario == bench::Scenario::soak ? bench::run_soak_worker(options) : bench::run_worker(options);
  }
  try {
    return bench::Coordinator(options).run();
  } catch (const std::exception& e) {
    std::cerr << "mqttsn-bench: " << e.what() << "\n";
    return 1;
  }
}
