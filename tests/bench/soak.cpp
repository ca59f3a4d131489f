#include "soak.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

#include "child_process.hpp"
#include "payload.hpp"
#include "proc_stats.hpp"

namespace bench {
namespace {

using nlohmann::json;

// Element-wise sums of the workers' arrays ([q0, q1, q2]) and counters.
void add_into(json& into, const json& from) {
  for (const auto& [key, value] : from.items()) {
    if (value.is_number_unsigned()) {
      into[key] = into.value(key, std::uint64_t{0}) + value.get<std::uint64_t>();
    } else if (value.is_array() && key != "lost_examples") {
      if (!into.contains(key)) into[key] = json::array({0, 0, 0});
      for (std::size_t i = 0; i < value.size() && i < into[key].size(); ++i) {
        into[key][i] = into[key][i].get<std::uint64_t>() + value[i].get<std::uint64_t>();
      }
    } else if (value.is_object()) {
      if (!into.contains(key)) into[key] = json::object();
      add_into(into[key], value);
    }
  }
}

std::uint64_t sum_q12(const json& a) { return a.at(1).get<std::uint64_t>() + a.at(2).get<std::uint64_t>(); }

}  // namespace

std::optional<Slope> least_squares_per_min(const std::vector<std::pair<double, double>>& points) {
  if (points.size() < 3) return std::nullopt;
  double mt = 0, my = 0;
  for (const auto& [t, y] : points) {
    mt += t;
    my += y;
  }
  mt /= static_cast<double>(points.size());
  my /= static_cast<double>(points.size());
  double cov = 0, var = 0;
  for (const auto& [t, y] : points) {
    cov += (t - mt) * (y - my);
    var += (t - mt) * (t - mt);
  }
  if (var <= 0) return std::nullopt;
  return Slope{cov / var * 60.0, points.size()};
}

json run_soak(const Options& o, pid_t gateway_pid, const std::string& tag,
              const std::function<std::optional<GatewayStats>()>& stats) {
  json out = {{"scenario", "soak"}, {"mode", o.mode}, {"client", o.client}, {"clients", o.clients},
              {"duration_s", o.duration_s}, {"up_rate", o.rate}, {"down_rate", o.down_rate},
              {"sample_s", o.sample_s}, {"label", o.label}, {"tag", tag}, {"gateway_pid", gateway_pid}};
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout_s * 1000));

  // One worker holds up to (descriptor limit - 200) clients: one UDP socket each.
  const std::uint64_t nofile = raise_nofile_limit();
  const std::uint64_t per_worker = nofile > 400 ? nofile - 200 : 200;
  const auto k = static_cast<std::uint32_t>((o.clients + per_worker - 1) / per_worker);
  out["workers"] = k;
  std::vector<std::unique_ptr<Child>> workers;
  std::vector<Child*> children;
  for (std::uint32_t i = 0; i < k; ++i) {
    const auto begin = static_cast<std::uint32_t>(std::uint64_t{o.clients} * i / k);
    const auto end = static_cast<std::uint32_t>(std::uint64_t{o.clients} * (i + 1) / k);
    workers.push_back(std::make_unique<Child>(self_exe(), worker_args(o, begin, end, tag), true));
    children.push_back(workers.back().get());
  }
  std::vector<std::optional<std::string>> ready;
  if (!wait_for_word(children, "ready", deadline, ready)) out["error"] = "workers not ready in time";
  std::uint64_t connected = 0;
  for (const auto& r : ready) {
    if (!r) continue;
    const json j = json::parse(*r);
    connected += j.value("connected", std::uint64_t{0});
    if (j.contains("error")) out["error"] = j["error"];
  }
  out["setup_connected"] = connected;
  out["setup_s"] = std::chrono::duration<double>(Clock::now() - start).count();

  const auto stats_before = stats();
  // Samples: [seconds since go, VmRSS kB, open fds]. The traffic phase ends at duration_s; the
  // drain follows.
  json series = json::array();
  const auto go = Clock::now();
  auto sample = [&] {
    const auto rss = rss_kb(gateway_pid);
    const auto fds = open_fds(gateway_pid);
    if (!rss || !fds) return false;
    series.push_back({std::chrono::duration<double>(Clock::now() - go).count(), *rss, *fds});
    return true;
  };
  bool gateway_alive = sample();
  for (Child* c : children) c->send_line("go");
  const auto period = std::chrono::milliseconds(static_cast<std::int64_t>(o.sample_s * 1000));
  auto next_sample = go + period;
  auto next_print = go + std::chrono::seconds(60);
  std::vector<std::optional<std::string>> done;
  while (!out.contains("error")) {
    if (wait_for_word(children, "done", std::min(next_sample, deadline), done)) break;
    if (Clock::now() >= deadline) {
      out["error"] = "no end before --timeout";
      break;
    }
    if (Clock::now() >= next_sample) {
      next_sample += period;
      gateway_alive = sample() && gateway_alive;
      if (!gateway_alive) {
        out["error"] = "the gateway exited during the soak";
        break;
      }
      if (!o.quiet && Clock::now() >= next_print) {
        next_print += std::chrono::seconds(60);
        const auto& last = series.back();
        std::printf("  t=%4.0f s  RSS %8llu kB  fds %5llu\n", last[0].get<double>(),
                    static_cast<unsigned long long>(last[1].get<std::uint64_t>()),
                    static_cast<unsigned long long>(last[2].get<std::uint64_t>()));
        std::fflush(stdout);
      }
    }
  }
  sample();
  const auto stats_after = stats();
  out["elapsed_s"] = std::chrono::duration<double>(Clock::now() - go).count();
  for (Child* c : children) c->send_line("end");
  std::vector<std::optional<std::string>> results;
  wait_for_word(children, "result", Clock::now() + std::chrono::seconds(30), results);
  for (auto& w : workers) w->stop(std::chrono::milliseconds(5000), true);

  json totals = json::object();
  json examples = json::array();
  for (const auto& r : results) {
    if (!r) {
      out["error"] = "a worker sent no result";
      continue;
    }
    const json j = json::parse(*r);
    add_into(totals, j);
    for (const auto& e : j.value("lost_examples", json::array())) examples.push_back(e);
    if (!j.value("drained", false)) out["drained"] = false;
    if (const auto e = j.value("mqtt_error", std::string{}); !e.empty()) out["error"] = e;
  }
  if (!out.contains("drained")) out["drained"] = true;
  out["totals"] = totals;
  out["lost_examples"] = examples;
  out["series"] = series;
  if (stats_before && stats_after) {
    json delta = json::object();
    for (const auto& [name, value] : *stats_after) {
      const auto it = stats_before->find(name);
      delta[name] = it == stats_before->end() || it->second > value ? value : value - it->second;
    }
    out["gw_stats"] = delta;
  }

  // Slopes over the traffic phase after the warm-up (at most a quarter of the run, so a short run
  // still has a window): growth that set-up and the first cycles cause is not a leak.
  const double warmup = std::min(o.warmup_s, o.duration_s / 4);
  out["warmup_s"] = warmup;
  std::vector<std::pair<double, double>> rss, fds;
  for (const auto& s : series) {
    const double t = s[0].get<double>();
    if (t < warmup || t > o.duration_s) continue;
    rss.emplace_back(t, s[1].get<double>());
    fds.emplace_back(t, s[2].get<double>());
  }
  const auto rss_slope = least_squares_per_min(rss);
  const auto fd_slope = least_squares_per_min(fds);
  bool flat = rss_slope && fd_slope;
  if (rss_slope) {
    out["rss_slope_kib_min"] = rss_slope->per_min;
    flat = flat && std::fabs(rss_slope->per_min) <= o.rss_slope_tol_kib_min;
  }
  if (fd_slope) {
    out["fd_slope_min"] = fd_slope->per_min;
    flat = flat && std::fabs(fd_slope->per_min) <= o.fd_slope_tol_min;
  }
  out["slope_samples"] = rss.size();
  out["rss_slope_tol_kib_min"] = o.rss_slope_tol_kib_min;
  out["fd_slope_tol_min"] = o.fd_slope_tol_min;
  out["flat"] = flat;

  std::uint64_t lost = 0, q2_dups = 0;
  if (totals.contains("up_lost")) {
    lost = sum_q12(totals["up_lost"]) + sum_q12(totals["dl_lost"]);
    q2_dups = totals["up_dup"][2].get<std::uint64_t>() + totals["dl_dup"][2].get<std::uint64_t>();
  }
  out["lost"] = lost;
  out["q2_duplicates"] = q2_dups;
  out["pass"] = flat && lost == 0 && q2_dups == 0 && !out.contains("error") && totals.contains("up_lost");
  return out;
}

void print_soak(const json& r) {
  std::printf("soak %s/%s: %llu clients, %.0f s traffic (+ drain, %.0f s in all), uplink %.0f/s, downlink %.0f/s\n",
              r.value("client", "?").c_str(), r.value("mode", "?").c_str(),
              static_cast<unsigned long long>(r.value("clients", std::uint64_t{0})), r.value("duration_s", 0.0),
              r.value("elapsed_s", 0.0), r.value("up_rate", 0.0), r.value("down_rate", 0.0));
  std::printf("  %8s %12s %8s\n", "t (min)", "RSS (KiB)", "fds");
  double next_minute = 0;
  const json series = r.value("series", json::array());
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double t = series[i][0].get<double>();
    if (t + 1e-9 < next_minute && i + 1 != series.size()) continue;
    next_minute = std::floor(t / 60.0) * 60.0 + 60.0;
    std::printf("  %8.1f %12llu %8llu\n", t / 60.0, static_cast<unsigned long long>(series[i][1].get<std::uint64_t>()),
                static_cast<unsigned long long>(series[i][2].get<std::uint64_t>()));
  }
  std::printf("  slopes after %.0f s warm-up (%llu samples): RSS %+.1f KiB/min (tolerance %.0f), fds %+.2f /min (tolerance %.1f): %s\n",
              r.value("warmup_s", 0.0), static_cast<unsigned long long>(r.value("slope_samples", std::uint64_t{0})),
              r.value("rss_slope_kib_min", NAN), r.value("rss_slope_tol_kib_min", 0.0), r.value("fd_slope_min", NAN),
              r.value("fd_slope_tol_min", 0.0), r.value("flat", false) ? "flat" : "NOT flat");
  if (const auto& t = r.value("totals", json::object()); t.contains("up_lost")) {
    auto q = [&](const char* key, std::size_t i) {
      return static_cast<unsigned long long>(t[key][i].get<std::uint64_t>());
    };
    std::printf("  uplink   sent q0/q1/q2 %llu/%llu/%llu, acknowledged q1/q2 %llu/%llu, lost q1/q2 %llu/%llu, duplicates q1/q2 %llu/%llu\n",
                q("up_sent", 0), q("up_sent", 1), q("up_sent", 2), q("up_acked", 1), q("up_acked", 2),
                q("up_lost", 1), q("up_lost", 2), q("up_dup", 1), q("up_dup", 2));
    std::printf("  downlink published q0/q1/q2 %llu/%llu/%llu, broker accepted q1/q2 %llu/%llu, lost q1/q2 %llu/%llu, duplicates q1/q2 %llu/%llu\n",
                q("dl_sent", 0), q("dl_sent", 1), q("dl_sent", 2), q("dl_accepted", 1), q("dl_accepted", 2),
                q("dl_lost", 1), q("dl_lost", 2), q("dl_dup", 1), q("dl_dup", 2));
  }
  if (r.contains("error")) std::printf("  error: %s\n", r["error"].dump().c_str());
  std::printf("  verdict: %s\n", r.value("pass", false) ? "PASS (flat, nothing lost)" : "FAIL");
  std::fflush(stdout);
}

}  // namespace bench
