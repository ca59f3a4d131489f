#pragma once
// Text -> JSON for config files: strict JSON (no comments), with duplicate keys rejected. Internal
// to gateway_config.

#include <string_view>

#include "json_fields.hpp"

namespace gateway::config::detail {

// Throws ConfigError: a syntax error names its line and column (empty JSON path); a duplicate key
// names the key's JSON path. nlohmann::json alone would keep the last duplicate silently, so
// `"retry": {...}` written twice would quietly drop the first block.
Json parse_json_document(std::string_view text);

}  // namespace gateway::config::detail
