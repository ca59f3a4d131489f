#pragma once
// JSON -> the transports list and the forwarder allow-list that refers to it (load.cpp reads the
// rest). Internal to gateway_config; throws ConfigError like every reader.

#include <string>
#include <vector>

#include "gateway/config/config.hpp"
#include "json_fields.hpp"

namespace gateway::config::detail {

// The address octets of an IPv4 or IPv6 literal (4 or 16), empty when it is neither.
std::string ip_literal_octets(const std::string& text);

std::vector<TransportConfig> read_transports(const Json& value, const std::string& path);

// `transports`: the list already read, which entries may name by index or name.
ForwarderSettings read_forwarders(const ObjectReader& section,
                                  const std::vector<TransportConfig>& transports);

}  // namespace gateway::config::detail
