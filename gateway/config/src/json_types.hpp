#pragma once
// Config values <-> JSON with nlohmann's macros: where a struct's members are named as its keys,
// reading and rendering are one declaration here. Types, ranges and known keys are the schema's
// (configs/schema.json, checked before any of this runs), so reading is taking values. Internal to
// gateway_config.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "gateway/config/config.hpp"

namespace gateway::config {

NLOHMANN_JSON_SERIALIZE_ENUM(GatewayMode, {{GatewayMode::transparent, "transparent"},
                                           {GatewayMode::aggregating, "aggregating"}})
NLOHMANN_JSON_SERIALIZE_ENUM(LogLevel, {{LogLevel::trace, "trace"},
                                        {LogLevel::debug, "debug"},
                                        {LogLevel::info, "info"},
                                        {LogLevel::warn, "warn"},
                                        {LogLevel::error, "error"}})
NLOHMANN_JSON_SERIALIZE_ENUM(UpstreamScheme, {{UpstreamScheme::tcp, "tcp"},
                                              {UpstreamScheme::ssl, "ssl"},
                                              {UpstreamScheme::mqtt, "mqtt"},
                                              {UpstreamScheme::mqtts, "mqtts"}})
NLOHMANN_JSON_SERIALIZE_ENUM(UpstreamClient, {{UpstreamClient::paho, "paho"},
                                              {UpstreamClient::native, "native"}})
NLOHMANN_JSON_SERIALIZE_ENUM(Durability, {{Durability::normal, "normal"}, {Durability::full, "full"}})
NLOHMANN_JSON_SERIALIZE_ENUM(SerialParity, {{SerialParity::none, "none"},
                                            {SerialParity::even, "even"},
                                            {SerialParity::odd, "odd"}})
NLOHMANN_JSON_SERIALIZE_ENUM(SerialFlowControl, {{SerialFlowControl::none, "none"},
                                                 {SerialFlowControl::rtscts, "rtscts"},
                                                 {SerialFlowControl::xonxoff, "xonxoff"}})
NLOHMANN_JSON_SERIALIZE_ENUM(SerialFraming, {{SerialFraming::raw, "raw"}, {SerialFraming::xbee, "xbee"}})

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(GatewaySettings, id, mode, max_clients,
                                                max_connecting, connect_rate_per_address,
                                                connect_burst_per_address)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(PredefinedTopic, id, name)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(SerialTransport, device, baud, data_bits, parity,
                                                stop_bits, flow_control, framing, api_mode,
                                                max_payload, inter_byte_timeout_ms)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(RfcommTransport, channel)
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(L2capTransport, psm)

// The word of an enum value, from its NLOHMANN_JSON_SERIALIZE_ENUM table (values 0, 1, ...; an
// unlisted value maps to the first entry, which ends the walk).
template <typename Enum>
std::string_view enum_name(Enum value) {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> found;
    for (int i = 0; i < 256; ++i) {
      const nlohmann::json word = static_cast<Enum>(i);
      if (word.get<Enum>() != static_cast<Enum>(i)) break;
      found.push_back(word.get<std::string>());
    }
    return found;
  }();
  const auto index = static_cast<std::size_t>(value);
  return index < names.size() ? std::string_view(names[index]) : std::string_view("?");
}

}  // namespace gateway::config

namespace gateway::core {
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(AclRule, client, publish, subscribe)
}  // namespace gateway::core

namespace mqtt_bridge {
NLOHMANN_JSON_SERIALIZE_ENUM(TlsVersion, {{TlsVersion::v1_2, "1.2"}, {TlsVersion::v1_3, "1.3"}})
// File paths as written; the loader resolves them against the config file's directory.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(TlsOptions, ca_file, ca_path, cert_file, key_file,
                                                verify, server_name, min_version, alpn)
}  // namespace mqtt_bridge
