#pragma once
// Turning runs into output: medians over runs, the human table, and JSON lines.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bench {

// Every numeric field: the median over `runs` (fields missing from a run are skipped); other
// fields are taken from the first run. Adds "runs": runs.size() and "summary": true.
nlohmann::json median_of(const std::vector<nlohmann::json>& runs);

void print_table_header();
// One line of the table; `name` is "run 1", "median", ...
void print_table_row(const std::string& name, const nlohmann::json& run);

// Appends `line` as one JSON line to `file` ('-' = stdout); nothing when file is empty.
void append_json(const std::string& file, const nlohmann::json& line);

}  // namespace bench
