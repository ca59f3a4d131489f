#include "broker_uri.hpp"

#include <stdexcept>
#include <string_view>

#include "mqtt_bridge/tls_options.hpp"

namespace mqtt_bridge {

Endpoint parse_broker_uri(const std::string& uri) {
  const auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos || scheme_end == 0) {
    throw std::invalid_argument("broker URI '" + uri +
                                "' has no scheme (expected e.g. tcp://host:1883)");
  }
  const std::string scheme = uri.substr(0, scheme_end);
  Endpoint endpoint;
  endpoint.tls = is_tls_uri(uri);
  if (scheme == "ws" || scheme == "wss") {
    throw std::invalid_argument("broker URI '" + uri + "': WebSocket is not supported; use tcp://, "
                                "mqtt://, ssl:// or mqtts://");
  }
  if (!endpoint.tls && scheme != "tcp" && scheme != "mqtt") {
    throw std::invalid_argument("broker URI '" + uri + "' has an unknown scheme '" + scheme + "'");
  }
  std::string_view rest = std::string_view(uri).substr(scheme_end + 3);
  if (const auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("broker URI '" + uri + "': unclosed '['");
    endpoint.host = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 1);
    if (!rest.empty() && rest.front() == ':') port = rest.substr(1);
  } else {
    const auto colon = rest.rfind(':');
    endpoint.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (endpoint.host.empty()) throw std::invalid_argument("broker URI '" + uri + "' has no host");
  endpoint.port = port.empty() ? (endpoint.tls ? "8883" : "1883") : std::string(port);
  if (endpoint.port.find_first_not_of("0123456789") != std::string::npos ||
      endpoint.port.size() > 5 || std::stoul(endpoint.port) > 65535) {
    throw std::invalid_argument("broker URI '" + uri + "' has a bad port");
  }
  return endpoint;
}

}  // namespace mqtt_bridge
