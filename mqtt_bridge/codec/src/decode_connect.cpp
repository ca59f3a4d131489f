// CONNECT (5.0 §3.1, 3.1.1 §3.1) and CONNACK (5.0 §3.2, 3.1.1 §3.2): the two packets whose layout
// the version changes most.

#include <string>

#include "detail.hpp"
#include "properties.hpp"
#include "reason_codes.hpp"
#include "wire.hpp"

namespace mqtt_codec::detail {
namespace {

// §3.1.2.3 Connect Flags.
constexpr std::uint8_t kReserved = 0x01;
constexpr std::uint8_t kCleanStart = 0x02;
constexpr std::uint8_t kWill = 0x04;
constexpr std::uint8_t kWillRetain = 0x20;
constexpr std::uint8_t kPassword = 0x40;
constexpr std::uint8_t kUsername = 0x80;

wire::Status read_protocol(wire::Reader& r, Version& version) {
  // §3.1.2.1: the protocol name is the UTF-8 string "MQTT" ("MQIsdp" was MQTT 3.1, level 3).
  Bytes name;
  if (auto e = r.binary(name)) return e;
  if (name != Bytes{'M', 'Q', 'T', 'T'}) return DecodeError::bad_protocol;
  std::uint8_t level = 0;
  if (auto e = r.u8(level)) return e;
  if (level != static_cast<std::uint8_t>(Version::v311) &&
      level != static_cast<std::uint8_t>(Version::v5)) {
    return DecodeError::bad_protocol;  // §3.1.2.2
  }
  version = static_cast<Version>(level);
  return std::nullopt;
}

wire::Status check_flags(std::uint8_t flags, Version version) {
  const bool will = (flags & kWill) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03U);
  if ((flags & kReserved) != 0) return DecodeError::bad_connect_flags;  // [MQTT-3.1.2-3]
  if (will_qos == 3) return DecodeError::bad_connect_flags;             // §3.1.2.6
  // §3.1.2.6/§3.1.2.7: without a will, Will QoS and Will Retain are 0.
  if (!will && (will_qos != 0 || (flags & kWillRetain) != 0)) return DecodeError::bad_connect_flags;
  // 3.1.1 §3.1.2.9 [MQTT-3.1.2-22]: no password without a user name (5.0 dropped the rule).
  if (version == Version::v311 && (flags & kPassword) != 0 && (flags & kUsername) == 0) {
    return DecodeError::bad_connect_flags;
  }
  return std::nullopt;
}

wire::Status read_will(wire::Reader& r, Version version, std::uint8_t flags, Will& will) {
  will.qos = static_cast<std::uint8_t>((flags >> 3) & 0x03U);
  will.retain = (flags & kWillRetain) != 0;
  if (version == Version::v5) {
    if (auto e = props::decode(r, props::Context::will, will.properties)) return e;  // §3.1.3.2
  }
  if (auto e = r.utf8(will.topic)) return e;
  if (!valid_topic_name(will.topic, false)) return DecodeError::bad_topic;  // §3.1.3.3
  return r.binary(will.payload);                                            // §3.1.3.4
}

}  // namespace

wire::Status read_body(wire::Reader& r, Version, Connect& out) {
  if (auto e = read_protocol(r, out.version)) return e;
  std::uint8_t flags = 0;
  if (auto e = r.u8(flags)) return e;
  if (auto e = check_flags(flags, out.version)) return e;
  out.clean_start = (flags & kCleanStart) != 0;
  if (auto e = r.u16(out.keep_alive)) return e;
  if (out.version == Version::v5) {
    if (auto e = props::decode(r, props::Context::connect, out.properties)) return e;
  }
  // §3.1.3: Client Identifier, Will Properties/Topic/Payload, User Name, Password, in that order.
  // An empty client id is the server's to accept or refuse (§3.1.3.1), not malformed.
  if (auto e = r.utf8(out.client_id)) return e;
  if ((flags & kWill) != 0) {
    Will will;
    if (auto e = read_will(r, out.version, flags, will)) return e;
    out.will = std::move(will);
  }
  if ((flags & kUsername) != 0) {
    std::string username;
    if (auto e = r.utf8(username)) return e;
    out.username = std::move(username);
  }
  if ((flags & kPassword) != 0) {
    Bytes password;
    if (auto e = r.binary(password)) return e;
    out.password = std::move(password);
  }
  return std::nullopt;
}

wire::Status read_body(wire::Reader& r, Version version, Connack& out) {
  std::uint8_t flags = 0;
  if (auto e = r.u8(flags)) return e;
  // §3.2.2.1: bits 7-1 of the Connect Acknowledge Flags are reserved and 0.
  if ((flags & 0xFEU) != 0) return DecodeError::bad_connect_flags;
  out.session_present = (flags & 0x01U) != 0;
  if (auto e = r.u8(out.reason_code)) return e;
  if (!reasons::allowed(PacketType::connack, version, out.reason_code)) {
    return DecodeError::bad_reason_code;
  }
  // 5.0 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]: a refusal never has a session.
  if (out.reason_code != reason::success && out.session_present) {
    return DecodeError::bad_connect_flags;
  }
  if (version == Version::v5) return props::decode(r, props::Context::connack, out.properties);
  return std::nullopt;
}

}  // namespace mqtt_codec::detail
