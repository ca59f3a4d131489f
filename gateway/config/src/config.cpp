#include "gateway/config/config.hpp"

#include "json_types.hpp"

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

std::string_view to_string(GatewayMode mode) { return enum_name(mode); }
std::string_view to_string(LogLevel level) { return enum_name(level); }
std::string_view to_string(UpstreamClient client) { return enum_name(client); }
std::string_view to_string(Durability durability) { return enum_name(durability); }
std::string_view to_string(UpstreamScheme scheme) { return enum_name(scheme); }
std::string_view to_string(SerialParity parity) { return enum_name(parity); }
std::string_view to_string(SerialFlowControl flow_control) { return enum_name(flow_control); }
std::string_view to_string(SerialFraming framing) { return enum_name(framing); }

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
