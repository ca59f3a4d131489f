#pragma once
// The few MQTT 3.1.1 packets the bench's plain-socket clients need, encoded and decoded by hand
// (OASIS MQTT 3.1.1 §2-§3): CONNECT, CONNACK, PUBLISH (QoS 0/1/2), PUBACK, PUBREC, PUBREL,
// PUBCOMP, SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT. No I/O here (mqtt_clients.hpp owns the
// sockets), so this file alone is what a swap to the project's mqtt_codec (mqtt_bridge/codec/)
// replaces.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace bench::mqtt {

using Bytes = std::vector<std::uint8_t>;

// §2.2.1 control packet types.
enum class Type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

// Each appends one packet to `out`.
void encode_connect(Bytes& out, std::string_view client_id, std::uint16_t keepalive_s);
// QoS 0 ignores `packet_id`. Returns the offset of the payload inside `out`, so a caller may
// encode once and patch the payload (and, at payload offset - 2, the packet id) in place.
std::size_t encode_publish(Bytes& out, std::string_view topic,
                           std::span<const std::uint8_t> payload, int qos, std::uint16_t packet_id);
void encode_puback(Bytes& out, std::uint16_t packet_id);
void encode_pubrel(Bytes& out, std::uint16_t packet_id);
void encode_subscribe(Bytes& out, std::uint16_t packet_id, std::string_view filter, int qos);
void encode_pingreq(Bytes& out);
void encode_disconnect(Bytes& out);

// One packet inside a receive buffer: its fixed-header type and flags and its variable part.
struct Packet {
  Type type{};
  std::uint8_t flags = 0;
  std::span<const std::uint8_t> body;
};

enum class Framing : std::uint8_t { complete, incomplete, malformed };

// The first packet of `in`; on `complete`, `consumed` is its size on the wire.
Framing next_packet(std::span<const std::uint8_t> in, Packet& packet, std::size_t& consumed);

struct Publish {
  std::string_view topic;
  int qos = 0;
  std::uint16_t packet_id = 0;
  std::span<const std::uint8_t> payload;
};

// Nothing when the packet is malformed (the broker is not trusted to be well-formed either).
std::optional<Publish> parse_publish(const Packet& packet);
// CONNACK: the return code (§3.2.2.3, 0 = accepted).
std::optional<std::uint8_t> parse_connack(const Packet& packet);
// PUBACK, PUBREC, PUBCOMP, SUBACK: the packet identifier.
std::optional<std::uint16_t> parse_packet_id(const Packet& packet);

}  // namespace bench::mqtt
