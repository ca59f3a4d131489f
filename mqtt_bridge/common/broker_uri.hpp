#pragma once
// The broker's address from an upstream URI, for the native client's connections and the TLS
// probe (tls/tls_probe.hpp). Paho parses its URI itself.

#include <string>

namespace mqtt_bridge {

struct Endpoint {
  std::string host;  // without the brackets of an IPv6 literal
  std::string port;  // digits; the scheme's default when the URI has none
  bool tls = false;  // ssl:// or mqtts://
};

// "tcp://host:port", "mqtt://", "ssl://", "mqtts://" ("[v6]:port" for IPv6; a path after the
// port is ignored). Default ports: 1883, and 8883 with TLS. Throws std::invalid_argument naming
// the URI and the problem (no scheme, an unknown one, WebSocket, no host, a bad port).
Endpoint parse_broker_uri(const std::string& uri);

}  // namespace mqtt_bridge
