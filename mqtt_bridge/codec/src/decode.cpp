// Decoding untrusted packets from the broker (MQTT 5.0 §2, §3; 3.1.1 likewise). Every read is
// bounds-checked; the first problem found is returned as a DecodeError. Nothing here throws
// (beyond std::bad_alloc), asserts or reads past the end.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "detail.hpp"
#include "mqtt_codec/codec.hpp"
#include "properties.hpp"
#include "reason_codes.hpp"
#include "wire.hpp"

namespace mqtt_codec {
namespace {

using wire::Reader;
using wire::Status;

bool is_v5(Version version) { return version == Version::v5; }

Status read_body(Reader& r, Version version, std::uint8_t flags, Publish& out) {
  // §3.3.1: DUP, QoS and RETAIN are the fixed header flags; check_flags() has vetted them.
  out.dup = (flags & 0x08U) != 0;
  out.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03U);
  out.retain = (flags & 0x01U) != 0;
  if (auto e = r.utf8(out.topic)) return e;
  // §3.3.2.2: the Packet Identifier is there only for QoS 1 and 2.
  if (out.qos > 0) {
    if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  }
  if (is_v5(version)) {
    if (auto e = props::decode(r, props::Context::publish, out.properties)) return e;
  }
  if (!detail::valid_topic_name(out.topic, out.properties.topic_alias.has_value())) {
    return DecodeError::bad_topic;
  }
  const wire::Span payload = r.rest();  // §3.3.3: whatever is left, possibly nothing
  out.payload.assign(payload.begin(), payload.end());
  return std::nullopt;
}

// 5.0 §3.4.2.1 (and §3.5-§3.7): Remaining Length 2 means reason 0x00 and no properties; 3 means a
// reason code and no properties (the Property Length is left out too).
template <PacketType kType>
Status read_body(Reader& r, Version version, std::uint8_t, Ack<kType>& out) {
  if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  if (!is_v5(version) || r.empty()) return std::nullopt;
  if (auto e = r.u8(out.reason_code)) return e;
  if (!reasons::allowed(kType, version, out.reason_code)) return DecodeError::bad_reason_code;
  if (r.empty()) return std::nullopt;
  return props::decode(r, props::Context::ack, out.properties);
}

Status read_options(Reader& r, Version version, Subscription& out) {
  std::uint8_t options = 0;
  if (auto e = r.u8(options)) return e;
  out.qos = static_cast<std::uint8_t>(options & 0x03U);
  if (out.qos == 3) return DecodeError::bad_subscription_options;
  if (!is_v5(version)) {
    // 3.1.1 §3.8.3.1 [MQTT-3-8.3-4]: the upper six bits are reserved.
    if ((options & 0xFCU) != 0) return DecodeError::bad_subscription_options;
    return std::nullopt;
  }
  // 5.0 §3.8.3.1: bits 7-6 reserved; Retain Handling 3 is a Protocol Error.
  out.no_local = (options & 0x04U) != 0;
  out.retain_as_published = (options & 0x08U) != 0;
  out.retain_handling = static_cast<std::uint8_t>((options >> 4) & 0x03U);
  if ((options & 0xC0U) != 0 || out.retain_handling == 3) {
    return DecodeError::bad_subscription_options;
  }
  return std::nullopt;
}

Status read_body(Reader& r, Version version, std::uint8_t, Subscribe& out) {
  if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  if (is_v5(version)) {
    if (auto e = props::decode(r, props::Context::subscribe, out.properties)) return e;
  }
  if (r.empty()) return DecodeError::no_topic_filters;  // [MQTT-3.8.3-3]
  while (!r.empty()) {
    Subscription s;
    if (auto e = r.utf8(s.filter)) return e;
    if (s.filter.empty()) return DecodeError::bad_topic;
    if (auto e = read_options(r, version, s)) return e;
    out.subscriptions.push_back(std::move(s));
  }
  return std::nullopt;
}

// SUBACK (§3.9.3) and MQTT 5 UNSUBACK (§3.11.3): one code per filter asked for, so at least one.
template <typename T>
Status read_codes(Reader& r, Version version, T& out) {
  constexpr PacketType type = detail::type_of_alternative<T>();
  if (r.empty()) return DecodeError::truncated;
  while (!r.empty()) {
    std::uint8_t code = 0;
    if (auto e = r.u8(code)) return e;
    if (!reasons::allowed(type, version, code)) return DecodeError::bad_reason_code;
    out.reason_codes.push_back(code);
  }
  return std::nullopt;
}

Status read_body(Reader& r, Version version, std::uint8_t, Suback& out) {
  if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  if (is_v5(version)) {
    if (auto e = props::decode(r, props::Context::suback, out.properties)) return e;
  }
  return read_codes(r, version, out);
}

Status read_body(Reader& r, Version version, std::uint8_t, Unsubscribe& out) {
  if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  if (is_v5(version)) {
    if (auto e = props::decode(r, props::Context::unsubscribe, out.properties)) return e;
  }
  if (r.empty()) return DecodeError::no_topic_filters;  // [MQTT-3.10.3-2]
  while (!r.empty()) {
    std::string filter;
    if (auto e = r.utf8(filter)) return e;
    if (filter.empty()) return DecodeError::bad_topic;
    out.filters.push_back(std::move(filter));
  }
  return std::nullopt;
}

Status read_body(Reader& r, Version version, std::uint8_t, Unsuback& out) {
  if (auto e = detail::read_packet_id(r, out.packet_id)) return e;
  if (!is_v5(version)) return std::nullopt;  // 3.1.1 §3.11: the packet id is all
  if (auto e = props::decode(r, props::Context::unsuback, out.properties)) return e;
  return read_codes(r, version, out);
}

Status read_body(Reader&, Version, std::uint8_t, Pingreq&) { return std::nullopt; }
Status read_body(Reader&, Version, std::uint8_t, Pingresp&) { return std::nullopt; }

// 5.0 §3.14.2 DISCONNECT and §3.15.2 AUTH: Remaining Length 0 means reason 0x00 and no
// properties; 1 means a reason code and no properties ("less than 2": Property Length 0).
template <typename T>
Status read_reason_and_properties(Reader& r, Version version, props::Context context, T& out) {
  if (!is_v5(version) || r.empty()) return std::nullopt;  // 3.1.1 DISCONNECT is empty
  if (auto e = r.u8(out.reason_code)) return e;
  if (!reasons::allowed(detail::type_of_alternative<T>(), version, out.reason_code)) {
    return DecodeError::bad_reason_code;
  }
  if (r.empty()) return std::nullopt;
  return props::decode(r, context, out.properties);
}

Status read_body(Reader& r, Version version, std::uint8_t, Disconnect& out) {
  return read_reason_and_properties(r, version, props::Context::disconnect, out);
}

Status read_body(Reader& r, Version version, std::uint8_t, Auth& out) {
  return read_reason_and_properties(r, version, props::Context::auth, out);
}

Status read_body(Reader& r, Version version, std::uint8_t, Connect& out) {
  return detail::read_body(r, version, out);
}

Status read_body(Reader& r, Version version, std::uint8_t, Connack& out) {
  return detail::read_body(r, version, out);
}

template <typename T>
Result<Packet> decode_as(Reader& r, Version version, std::uint8_t flags) {
  T packet{};
  if (auto e = read_body(r, version, flags, packet)) return *e;
  if (!r.empty()) return DecodeError::trailing_bytes;
  return Packet{std::move(packet)};
}

// §2.1.3 Table 2-2: PUBREL, SUBSCRIBE and UNSUBSCRIBE carry 0b0010, PUBLISH its DUP/QoS/RETAIN
// (§3.3.1: QoS 3 is malformed, DUP must be 0 on QoS 0 [MQTT-3.3.1-2]), every other type 0.
bool valid_flags(PacketType type, std::uint8_t flags) {
  switch (type) {
    case PacketType::publish: {
      const auto qos = (flags >> 1) & 0x03U;
      return qos != 3 && !(qos == 0 && (flags & 0x08U) != 0);
    }
    case PacketType::pubrel:
    case PacketType::subscribe:
    case PacketType::unsubscribe: return flags == 0x02;
    default: return flags == 0x00;
  }
}

Result<Packet> decode_body(PacketType type, Reader& r, Version version, std::uint8_t flags) {
  switch (type) {
    case PacketType::connect: return decode_as<Connect>(r, version, flags);
    case PacketType::connack: return decode_as<Connack>(r, version, flags);
    case PacketType::publish: return decode_as<Publish>(r, version, flags);
    case PacketType::puback: return decode_as<Puback>(r, version, flags);
    case PacketType::pubrec: return decode_as<Pubrec>(r, version, flags);
    case PacketType::pubrel: return decode_as<Pubrel>(r, version, flags);
    case PacketType::pubcomp: return decode_as<Pubcomp>(r, version, flags);
    case PacketType::subscribe: return decode_as<Subscribe>(r, version, flags);
    case PacketType::suback: return decode_as<Suback>(r, version, flags);
    case PacketType::unsubscribe: return decode_as<Unsubscribe>(r, version, flags);
    case PacketType::unsuback: return decode_as<Unsuback>(r, version, flags);
    case PacketType::pingreq: return decode_as<Pingreq>(r, version, flags);
    case PacketType::pingresp: return decode_as<Pingresp>(r, version, flags);
    case PacketType::disconnect: return decode_as<Disconnect>(r, version, flags);
    case PacketType::auth: return decode_as<Auth>(r, version, flags);
  }
  return DecodeError::reserved_type;
}

}  // namespace

Result<std::size_t> frame_size(std::span<const std::uint8_t> prefix, std::size_t max_packet_size) {
  if (prefix.empty()) return std::size_t{0};
  const wire::Varint length = wire::parse_varint(prefix.subspan(1));
  if (length.state == wire::Varint::State::incomplete) return std::size_t{0};
  if (length.state == wire::Varint::State::malformed) return DecodeError::bad_remaining_length;
  const std::size_t total = 1 + length.length + length.value;
  if (total > max_packet_size) return DecodeError::packet_too_large;
  return total;
}

Result<Packet> decode(std::span<const std::uint8_t> packet, Version version) {
  // §2.1: one octet of type and flags, then the Remaining Length (§2.1.4).
  if (packet.empty()) return DecodeError::truncated;
  const wire::Varint length = wire::parse_varint(packet.subspan(1));
  if (length.state == wire::Varint::State::incomplete) return DecodeError::truncated;
  if (length.state == wire::Varint::State::malformed) return DecodeError::bad_remaining_length;
  if (1 + length.length + length.value != packet.size()) {
    return DecodeError::remaining_length_mismatch;
  }
  const auto type_bits = static_cast<std::uint8_t>(packet[0] >> 4);
  const auto flags = static_cast<std::uint8_t>(packet[0] & 0x0FU);
  // §2.1.2 Table 2-1: 0 is reserved; 15 is AUTH in 5.0 and reserved in 3.1.1.
  if (type_bits == 0 || (type_bits == 15 && !is_v5(version))) return DecodeError::reserved_type;
  const auto type = static_cast<PacketType>(type_bits);
  if (!valid_flags(type, flags)) return DecodeError::bad_flags;
  Reader r(packet.subspan(1 + length.length));
  return decode_body(type, r, version, flags);
}

}  // namespace mqtt_codec
