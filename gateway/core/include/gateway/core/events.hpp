#pragma once
// What happens to the gateway, as values fed into Core::handle(). Built by gateway/app on the loop
// thread from transport reads, upstream (Paho) events and the core's own timer.

#include <cstdint>
#include <span>
#include <string_view>
#include <string>
#include <variant>

#include "sn_protocol/packet.hpp"
#include "sn_protocol/peer.hpp"

namespace gateway::core {

// One upstream MQTT connection (transparent mode: one per client connection attempt; id 0 is the
// shared QoS -1 connection). Never reused within one Core's life.
using ConnId = std::uint64_t;
// Matches an upstream request with its completion; 0 means "no completion wanted".
using ReqId = std::uint64_t;

inline constexpr ConnId kQosMinusOneConn = 0;

// One frame from a transport; `bytes` only needs to live for the handle() call.
struct FrameReceived {
  sn::Peer peer;
  std::span<const std::uint8_t> bytes;
  // Who the transport proved the sender to be (a DTLS PSK identity or certificate name), when
  // that must be its ClientId: a CONNECT with another ClientId gets CONNACK 0x03. Empty: no
  // binding.
  std::string_view identity = {};
};

struct UpstreamConnected {
  ConnId conn;
  // The broker resumed a session of this ClientId (CONNACK session present, MQTT 3.1.1
  // §3.2.2.2): its subscriptions are still there.
  bool session_present = false;
};
struct UpstreamConnectFailed {
  ConnId conn;
  bool refused;  // the broker said no (vs. unreachable / unavailable)
  std::string reason;
};
struct UpstreamConnectionLost {
  ConnId conn;
  std::string reason;
};
struct UpstreamDisconnected {
  ConnId conn;
};
struct UpstreamMessage {
  ConnId conn;
  std::string topic;
  sn::Bytes payload;
  std::uint8_t qos = 0;
  bool retain = false;
  // Non-zero: the broker waits for UpstreamAck{conn, ack} before it forgets the message (the
  // native client's end-to-end acknowledgement). The core sends it once every client that takes
  // the message at QoS 1/2 has acknowledged it, or was given up (dropped, lost), and at once when
  // nobody takes it. Mirrors mqtt_bridge::AckToken (static_assert in gateway/app).
  std::uint32_t ack = 0;
};
struct UpstreamPublishDone {
  ConnId conn;
  ReqId req;
  bool ok;
};
struct UpstreamSubscribeDone {
  ConnId conn;
  ReqId req;
  bool ok;
  std::uint8_t granted_qos;
};
struct UpstreamUnsubscribeDone {
  ConnId conn;
  ReqId req;
  bool ok;
};
// A transport lost its medium (a serial device unplugged, a radio gone): every client reached
// through it is lost, and its will fires. The transport keeps its id when it comes back.
struct TransportDown {
  std::uint16_t transport_id;
  std::string reason;
};
// One client's link ended while its transport lives on (its DTLS session closed, expired, or was
// replaced by a new handshake from its address): the client at `peer`, if any, is lost as when
// its transport goes down, and its will fires. Frames for it must not reach whoever holds the
// address next.
struct PeerGone {
  sn::Peer peer;
};
// The time returned by Core::next_deadline() has come.
struct TimerExpired {};

using Event = std::variant<FrameReceived, UpstreamConnected, UpstreamConnectFailed,
                           UpstreamConnectionLost, UpstreamDisconnected, UpstreamMessage,
                           UpstreamPublishDone, UpstreamSubscribeDone, UpstreamUnsubscribeDone,
                           TransportDown, PeerGone, TimerExpired>;

}  // namespace gateway::core
