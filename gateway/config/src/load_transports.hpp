#pragma once
// JSON -> the transports list and the forwarder allow-list that refers to it (load.cpp reads the
// rest). Internal to gateway_config; throws ConfigError like every reader.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "gateway/config/config.hpp"
#include "json_fields.hpp"

namespace gateway::config::detail {

// The address octets of an IPv4 or IPv6 literal (4 or 16), empty when it is neither.
std::string ip_literal_octets(const std::string& text);

// `base`: the config file's directory, for relative key and certificate paths.
std::vector<TransportConfig> read_transports(const Json& value, const std::string& path,
                                             const std::filesystem::path& base);

// A PSK file, mosquitto's format: "identity:hexkey" per line, blank lines and "#" comments
// allowed. Fails at `json_path` naming the file and line, never the key.
std::map<std::string, std::vector<std::uint8_t>> read_psk_file(const std::string& file,
                                                               const std::string& json_path);

// `transports`: the list already read, which entries may name by index or name.
ForwarderSettings read_forwarders(const ObjectReader& section,
                                  const std::vector<TransportConfig>& transports);

}  // namespace gateway::config::detail
