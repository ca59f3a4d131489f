#include "mqtt_codec/packet.hpp"

#include <variant>

#include "mqtt_codec/codec.hpp"

namespace mqtt_codec {

// Packet's alternatives follow Table 2-1's order (checked in detail.hpp): index + 1 is the type.
PacketType type_of(const Packet& packet) { return static_cast<PacketType>(packet.index() + 1); }

const char* to_string(PacketType type) {
  switch (type) {
    case PacketType::connect: return "CONNECT";
    case PacketType::connack: return "CONNACK";
    case PacketType::publish: return "PUBLISH";
    case PacketType::puback: return "PUBACK";
    case PacketType::pubrec: return "PUBREC";
    case PacketType::pubrel: return "PUBREL";
    case PacketType::pubcomp: return "PUBCOMP";
    case PacketType::subscribe: return "SUBSCRIBE";
    case PacketType::suback: return "SUBACK";
    case PacketType::unsubscribe: return "UNSUBSCRIBE";
    case PacketType::unsuback: return "UNSUBACK";
    case PacketType::pingreq: return "PINGREQ";
    case PacketType::pingresp: return "PINGRESP";
    case PacketType::disconnect: return "DISCONNECT";
    case PacketType::auth: return "AUTH";
  }
  return "reserved";
}

const char* to_string(DecodeError error) {
  switch (error) {
    case DecodeError::truncated: return "truncated";
    case DecodeError::trailing_bytes: return "trailing_bytes";
    case DecodeError::bad_remaining_length: return "bad_remaining_length";
    case DecodeError::remaining_length_mismatch: return "remaining_length_mismatch";
    case DecodeError::reserved_type: return "reserved_type";
    case DecodeError::bad_flags: return "bad_flags";
    case DecodeError::bad_protocol: return "bad_protocol";
    case DecodeError::bad_connect_flags: return "bad_connect_flags";
    case DecodeError::invalid_utf8: return "invalid_utf8";
    case DecodeError::zero_packet_id: return "zero_packet_id";
    case DecodeError::no_topic_filters: return "no_topic_filters";
    case DecodeError::bad_subscription_options: return "bad_subscription_options";
    case DecodeError::bad_reason_code: return "bad_reason_code";
    case DecodeError::bad_property: return "bad_property";
    case DecodeError::duplicate_property: return "duplicate_property";
    case DecodeError::property_not_allowed: return "property_not_allowed";
    case DecodeError::packet_too_large: return "packet_too_large";
    case DecodeError::bad_topic: return "bad_topic";
  }
  return "unknown";
}

}  // namespace mqtt_codec
