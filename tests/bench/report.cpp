#include "report.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace bench {

nlohmann::json median_of(const std::vector<nlohmann::json>& runs) {
  nlohmann::json out = nlohmann::json::object();
  if (runs.empty()) return out;
  for (const auto& [key, value] : runs.front().items()) {
    if (!value.is_number() || value.is_boolean()) {
      out[key] = value;
      continue;
    }
    std::vector<double> values;
    for (const auto& run : runs) {
      if (run.contains(key) && run[key].is_number()) values.push_back(run[key].get<double>());
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    out[key] = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  }
  bool any_timeout = false;
  for (const auto& run : runs) any_timeout = any_timeout || run.value("timed_out", false);
  out["timed_out"] = any_timeout;
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
