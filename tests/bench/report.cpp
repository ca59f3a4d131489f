#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace bench {

std::string key_metric(Scenario scenario) {
  switch (scenario) {
    case Scenario::uplink:
    case Scenario::overload:
    case Scenario::downlink:
    case Scenario::baseline: return "delivered_per_s";
    case Scenario::connect_storm:
    case Scenario::broker_storm: return "connect_per_s";
    case Scenario::idle: return "gw_idle_cpu_pct";
    case Scenario::soak: return "lost";  // one run, never a median
  }
  return "delivered_per_s";
}

nlohmann::json median_of(const std::vector<nlohmann::json>& runs, const std::string& key) {
  if (runs.empty()) return nlohmann::json::object();
  std::vector<const nlohmann::json*> ranked;
  for (const auto& run : runs) ranked.push_back(&run);
  std::stable_sort(ranked.begin(), ranked.end(), [&key](const nlohmann::json* a, const nlohmann::json* b) {
    const bool ha = a->contains(key) && (*a)[key].is_number();
    const bool hb = b->contains(key) && (*b)[key].is_number();
    if (ha != hb) return ha;
    return ha && (*a)[key].get<double>() < (*b)[key].get<double>();
  });
  std::size_t with_key = 0;
  for (const auto* run : ranked) with_key += run->contains(key) && (*run)[key].is_number() ? 1 : 0;
  const std::size_t pick = with_key == 0 ? 0 : (with_key - 1) / 2;
  nlohmann::json out = *ranked[pick];
  std::size_t timed_out = 0;
  for (const auto& run : runs) timed_out += run.value("timed_out", false) ? 1 : 0;
  out["median_run"] = out.value("run", 0);
  out["median_key"] = key;
  out["runs_timed_out"] = timed_out;
  out["runs"] = runs.size();
  out["summary"] = true;
  out.erase("run");
  return out;
}

namespace {

std::string num(const nlohmann::json& run, const char* key, const char* format, double scale = 1) {
  if (!run.contains(key) || !run[key].is_number()) return "-";
  char text[32];
  std::snprintf(text, sizeof text, format, run[key].get<double>() * scale);
  return text;
}

}  // namespace

void print_table_header() {
  std::printf("%-9s %-13s %3s %6s %7s %9s %9s %7s %10s %8s %8s %8s %8s %8s %8s %7s\n", "", "scenario",
              "qos", "N", "M", "sent", "delivered", "loss%", "msgs/s", "rtt50us", "rtt99us",
              "rttmax", "e2e50us", "gwus/msg", "gwRSSMB", "conn/s");
}

void print_table_row(const std::string& name, const nlohmann::json& run) {
  const std::string scenario = run.value("scenario", "?") + (run.value("timed_out", false) ? "!" : "");
  std::printf("%-9s %-13s %3s %6s %7s %9s %9s %7s %10s %8s %8s %8s %8s %8s %8s %7s\n", name.c_str(),
              scenario.c_str(), num(run, "qos", "%.0f").c_str(), num(run, "clients", "%.0f").c_str(),
              num(run, "messages", "%.0f").c_str(), num(run, "sent", "%.0f").c_str(),
              num(run, "delivered", "%.0f").c_str(), num(run, "loss_pct", "%.3f").c_str(),
              num(run, "delivered_per_s", "%.0f").c_str(), num(run, "rtt_p50_us", "%.0f").c_str(),
              num(run, "rtt_p99_us", "%.0f").c_str(), num(run, "rtt_max_us", "%.0f").c_str(),
              num(run, "e2e_p50_us", "%.0f").c_str(), num(run, "gw_cpu_us_per_msg", "%.2f").c_str(),
              num(run, "gw_hwm_kb", "%.1f", 1.0 / 1024).c_str(),
              num(run, "connect_per_s", "%.0f").c_str());
  std::fflush(stdout);
}

void append_json(const std::string& file, const nlohmann::json& line) {
  if (file.empty()) return;
  if (file == "-") {
    std::cout << line.dump() << std::endl;
    return;
  }
  std::ofstream(file, std::ios::app) << line.dump() << "\n";
}

}  // namespace bench
