#pragma once
// What the core wants done, as values returned from Core::handle(). gateway/app executes them on
// the loop thread, in order: transports send frames, mqtt_bridge talks to the broker.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gateway/core/events.hpp"
#include "sn_protocol/packet.hpp"
#include "sn_protocol/peer.hpp"

namespace gateway::core {

// Encoded frame to one peer (already wrapped in the §5.5 encapsulation for forwarded peers: then
// `peer` is the forwarder).
struct SendFrame {
  sn::Peer peer;
  sn::Bytes bytes;
};

// Encoded frame to every client within reach (§6.1: ADVERTISE, GWINFO): the app sends it to each
// transport's broadcast or multicast destination, if it has one. `transport`: only that one;
// nullopt: every transport. `radius`: the broadcast radius (§5.4.2 Radius; 0 = the transport's
// default).
struct Broadcast {
  std::optional<std::uint16_t> transport;
  sn::Bytes bytes;
  std::uint8_t radius = 0;
};

struct Will {
  std::string topic;
  sn::Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool operator==(const Will&) const = default;
};

struct UpstreamConnect {
  ConnId conn;
  std::string client_id;  // the upstream MQTT ClientId (the configured prefix + sn_client_id)
  std::uint16_t keep_alive_s;
  bool clean_session;
  std::optional<Will> will;
  // The MQTT-SN ClientId the connection is for; empty for the gateway's own connection. The app
  // chooses the connection's credentials by it (auth.clients, %c in upstream.username).
  std::string sn_client_id = {};
};
// fire_will: the client was lost, the broker must publish its will; otherwise a clean DISCONNECT.
struct UpstreamDisconnect {
  ConnId conn;
  bool fire_will;
};
struct UpstreamPublish {
  ConnId conn;
  ReqId req;
  std::string topic;
  sn::Bytes payload;
  std::uint8_t qos;
  bool retain;
};
struct UpstreamSubscribe {
  ConnId conn;
  ReqId req;
  std::string filter;
  std::uint8_t qos;
};
struct UpstreamUnsubscribe {
  ConnId conn;
  ReqId req;
  std::string filter;
};

enum class LogLevel : std::uint8_t { trace, debug, info, warn, error };

struct Log {
  LogLevel level;
  std::string text;
};

// The message UpstreamMessage::ack named has reached its receivers: the broker may forget it.
struct UpstreamAck {
  ConnId conn;
  std::uint32_t ack;
};

using Action = std::variant<SendFrame, Broadcast, UpstreamConnect, UpstreamDisconnect, UpstreamPublish,
                            UpstreamSubscribe, UpstreamUnsubscribe, UpstreamAck, Log>;
using Actions = std::vector<Action>;

}  // namespace gateway::core
