#pragma once
// The coordinator's side of the soak scenario (issue 12 §7): starts the soak workers
// (soak_worker.hpp), samples the gateway's RSS and open descriptors every --sample-s over the run,
// fits a least-squares line to the samples after the warm-up, and sums up what was lost.

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "options.hpp"
#include "overload_probe.hpp"

namespace bench {

struct Slope {
  double per_min = 0;  // least-squares slope, units per minute
  std::size_t samples = 0;
};

// Least-squares slope of (t_s, y) per minute; nothing with fewer than 3 points or no spread in t.
std::optional<Slope> least_squares_per_min(const std::vector<std::pair<double, double>>& points);

// Runs one soak against the gateway at o.gateway (process `gateway_pid`, measured from /proc;
// `stats` asks it for its counters, may return nothing). Returns the run's JSON line: the series
// ("series": [[t_s, rss_kb, fds], ...]), slopes, verdicts, loss counts, and "pass".
nlohmann::json run_soak(const Options& o, pid_t gateway_pid, const std::string& tag,
                        const std::function<std::optional<GatewayStats>()>& stats);

// The human report of that line on stdout: one row per minute, slopes, losses, verdict.
void print_soak(const nlohmann::json& run);

}  // namespace bench
