#pragma once
// One test's world for the end-to-end UDP suites: a private mosquitto, the real gateway pointed at
// it, and MQTT-SN clients over UDP on loopback.

#include <string>
#include <utility>
#include <vector>

#include "sn_client.hpp"
#include "support/broker.hpp"
#include "support/gateway_process.hpp"

namespace test_support {

inline sn::Bytes bytes(const std::string& text) { return {text.begin(), text.end()}; }

struct UdpRig {
  Mosquitto broker;
  std::string gateway_mode;  // the mode the gateway runs in (see GatewayOptions::mode)
  GatewayProcess gateway;

  // `broker_config`: extra mosquitto config lines (see Mosquitto).
  explicit UdpRig(GatewayOptions options = {}, std::vector<std::string> broker_config = {})
      : broker(std::move(broker_config)),
        gateway_mode(options.mode),
        gateway([&] {
          options.upstream_uri = broker.uri();
          return options;
        }()) {}

  // A new client socket (its own source port) towards the gateway.
  sn_tools::SnUdpClient client() { return sn_tools::SnUdpClient("127.0.0.1", gateway.port()); }
};

}  // namespace test_support
