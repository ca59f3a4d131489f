#pragma once
// Turning runs into output: medians over runs, the human table, and JSON lines.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "options.hpp"

namespace bench {

// The field that ranks the runs of a scenario: msgs/s (uplink, downlink, baseline), connects/s
// (storms), the gateway's idle CPU (idle).
std::string key_metric(Scenario scenario);

// The median run: the run whose `key` is the median (the lower middle of an even count; runs
// without the key rank last), with all of that run's fields, so a summary never mixes runs. Adds
// "runs", "median_run" (its number), "median_key", "runs_timed_out" (how many of all runs timed
// out) and "summary": true.
nlohmann::json median_of(const std::vector<nlohmann::json>& runs, const std::string& key);

void print_table_header();
// One line of the table; `name` is "run 1", "median", ...
void print_table_row(const std::string& name, const nlohmann::json& run);

// Appends `line` as one JSON line to `file` ('-' = stdout); nothing when file is empty.
void append_json(const std::string& file, const nlohmann::json& line);

}  // namespace bench
