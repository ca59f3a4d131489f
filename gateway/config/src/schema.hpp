#pragma once
// configs/schema.json inside the gateway: the one description of every key (type, range, default,
// meaning, whether a reload applies it). Internal to gateway_config.

#include <string>
#include <vector>

#include "json_fields.hpp"

namespace gateway::config::detail {

// The schema as written (key order kept, for the key table and the explanations).
const nlohmann::ordered_json& schema();

// Validates a parsed document against the schema (valijson, JSON Schema draft 7). Throws
// ConfigError naming the JSON path of the first value the schema refuses, with what the schema
// expects there in words ("expected an integer from 1 to 255", "unknown key").
void validate_against_schema(const Json& document);

// A document with its keys in the order the schema describes them (transport entries: their
// type's keys), for people reading it; keys the schema does not know come last.
nlohmann::ordered_json in_schema_order(const Json& document);

// The JSON paths whose keys are marked "x-reload" (a SIGHUP applies them), in schema order.
const std::vector<std::string>& reloadable_keys();

}  // namespace gateway::config::detail
