#include "gateway/config/config.hpp"

#include <iterator>
#include <utility>

namespace gateway::config {
namespace {

std::string describe(const std::string& file, const std::string& json_path,
                     const std::string& problem) {
  std::string text;
  for (const auto* part : {&file, &json_path}) {
    if (!part->empty()) text += *part + ": ";
  }
  return text + problem;
}

}  // namespace

ConfigError::ConfigError(std::string json_path, std::string problem, std::string file)
    : std::runtime_error(describe(file, json_path, problem)),
      json_path_(std::move(json_path)),
      problem_(std::move(problem)),
      file_(std::move(file)) {}

std::string_view to_string(GatewayMode mode) {
  switch (mode) {
    case GatewayMode::transparent: return "transparent";
    case GatewayMode::aggregating: return "aggregating";
  }
  return "?";
}

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}

std::string_view to_string(UpstreamClient client) {
  switch (client) {
    case UpstreamClient::paho: return "paho";
    case UpstreamClient::native: return "native";
  }
  return "paho";
}

std::string_view to_string(Durability durability) {
  switch (durability) {
    case Durability::normal: return "normal";
    case Durability::full: return "full";
  }
  return "normal";
}

std::string_view to_string(UpstreamScheme scheme) {
  switch (scheme) {
    case UpstreamScheme::tcp: return "tcp";
    case UpstreamScheme::ssl: return "ssl";
    case UpstreamScheme::mqtt: return "mqtt";
    case UpstreamScheme::mqtts: return "mqtts";
  }
  return "?";
}

std::string_view to_string(SerialParity parity) {
  switch (parity) {
    case SerialParity::none: return "none";
    case SerialParity::even: return "even";
    case SerialParity::odd: return "odd";
  }
  return "?";
}

std::string_view to_string(SerialFlowControl flow_control) {
  switch (flow_control) {
    case SerialFlowControl::none: return "none";
    case SerialFlowControl::rtscts: return "rtscts";
    case SerialFlowControl::xonxoff: return "xonxoff";
  }
  return "?";
}

std::string_view to_string(SerialFraming framing) {
  switch (framing) {
    case SerialFraming::raw: return "raw";
    case SerialFraming::xbee: return "xbee";
  }
  return "?";
}

std::string_view type_name(const TransportSettings& settings) {
  constexpr std::string_view kNames[] = {"udp", "serial", "rfcomm", "l2cap", "dtls"};
  static_assert(std::size(kNames) == std::variant_size_v<TransportSettings>);
  return kNames[settings.index()];
}

}  // namespace gateway::config

namespace gateway::config {

std::string stats_topic_prefix(const Config& config) {
  if (!config.stats.topic_prefix.empty()) return config.stats.topic_prefix;
  return "$SYS/mqttsn/gateway-" + std::to_string(config.gateway.id);
}

}  // namespace gateway::config
