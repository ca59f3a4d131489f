// Encoding our own packets (MQTT 5.0 §2, §3; 3.1.1 likewise). The bridge builds these values, so
// one that cannot be encoded is a programming error and asserts (STYLE.md §2). Each body is
// written by one function, run once into a counting Sink for the Remaining Length and
// encoded_size(), and once into the output: the two cannot disagree.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "detail.hpp"
#include "mqtt_codec/codec.hpp"
#include "properties.hpp"
#include "reason_codes.hpp"
#include "wire.hpp"

namespace mqtt_codec {
namespace {

using wire::Sink;

bool is_v5(Version version) { return version == Version::v5; }

// MQTT 3.1.1 has no properties on the wire: carrying some is a caller bug, not data to drop.
void write_properties(Sink& s, Version version, const Properties& p, props::Context context) {
  if (is_v5(version)) {
    props::encode(p, context, s);
  } else {
    assert(props::empty(p) && "MQTT 3.1.1 has no properties");
  }
}

void assert_reason(PacketType type, Version version, std::uint8_t code) {
  assert(reasons::allowed(type, version, code) && "this packet may not carry this reason code");
  (void)type, (void)version, (void)code;
}

void write_connect(Sink& s, const Connect& p) {
  const Version v = p.version;
  assert((v == Version::v311 || v == Version::v5) && "CONNECT speaks MQTT 3.1.1 or 5.0");
  assert((is_v5(v) || !p.password || p.username) && "3.1.1 §3.1.2.9: no password without user");
  s.utf8("MQTT");  // §3.1.2.1
  s.u8(static_cast<std::uint8_t>(v));
  unsigned flags = p.clean_start ? 0x02U : 0x00U;  // §3.1.2.3
  if (p.will) {
    assert(p.will->qos <= 2 && "Will QoS is 0, 1 or 2");
    flags |= 0x04U | (unsigned{p.will->qos} << 3) | (p.will->retain ? 0x20U : 0U);
  }
  if (p.password) flags |= 0x40U;
  if (p.username) flags |= 0x80U;
  s.u8(static_cast<std::uint8_t>(flags));
  s.u16(p.keep_alive);
  write_properties(s, v, p.properties, props::Context::connect);
  s.utf8(p.client_id);
  if (p.will) {
    assert(detail::valid_topic_name(p.will->topic, false) &&
           "§3.1.3.3: Will Topic is a Topic Name");
    write_properties(s, v, p.will->properties, props::Context::will);
    s.utf8(p.will->topic);
    s.binary(p.will->payload);
  }
  if (p.username) s.utf8(*p.username);
  if (p.password) s.binary(*p.password);
}

void write_body(Sink& s, Version, const Connect& p) { write_connect(s, p); }

void write_body(Sink& s, Version v, const Connack& p) {
  assert_reason(PacketType::connack, v, p.reason_code);
  assert((p.reason_code == 0 || !p.session_present) && "§3.2.2.2: no session on a refusal");
  s.u8(p.session_present ? 0x01 : 0x00);
  s.u8(p.reason_code);
  write_properties(s, v, p.properties, props::Context::connack);
}

void write_body(Sink& s, Version v, const Publish& p) {
  assert(p.qos <= 2 && "PUBLISH QoS is 0, 1 or 2");
  assert((p.qos == 0 ? p.packet_id == 0 : p.packet_id != 0) &&
         "§3.3.2.2: a packet id, non-zero, exactly when QoS > 0");
  assert(detail::valid_topic_name(p.topic, is_v5(v) && p.properties.topic_alias) &&
         "§3.3.2.1: a Topic Name (or, in MQTT 5, a Topic Alias)");
  assert((p.qos > 0 || !p.dup) && "[MQTT-3.3.1-2]: DUP is 0 on QoS 0");
  s.utf8(p.topic);
  if (p.qos > 0) s.u16(p.packet_id);
  write_properties(s, v, p.properties, props::Context::publish);
  s.raw(p.payload);
}

// 5.0 §3.4.2.1: the shortest form that says it all.
template <PacketType kType>
void write_body(Sink& s, Version v, const Ack<kType>& p) {
  assert(p.packet_id != 0 && "§2.2.1: packet ids are non-zero");
  assert_reason(kType, v, p.reason_code);
  s.u16(p.packet_id);
  if (!is_v5(v)) {
    assert(props::empty(p.properties) && "MQTT 3.1.1 has no properties");
    return;
  }
  const bool no_properties = props::empty(p.properties);
  if (p.reason_code == reason::success && no_properties) return;
  s.u8(p.reason_code);
  if (!no_properties) props::encode(p.properties, props::Context::ack, s);
}

void write_body(Sink& s, Version v, const Subscribe& p) {
  assert(p.packet_id != 0 && "§2.2.1: packet ids are non-zero");
  assert(!p.subscriptions.empty() && "[MQTT-3.8.3-3]: at least one topic filter");
  s.u16(p.packet_id);
  write_properties(s, v, p.properties, props::Context::subscribe);
  for (const Subscription& sub : p.subscriptions) {
    assert(!sub.filter.empty() && sub.qos <= 2 && sub.retain_handling <= 2);
    assert((is_v5(v) || (!sub.no_local && !sub.retain_as_published && sub.retain_handling == 0)) &&
           "3.1.1 subscription options are the QoS only");
    s.utf8(sub.filter);
    unsigned options = sub.qos;  // §3.8.3.1
    if (sub.no_local) options |= 0x04U;
    if (sub.retain_as_published) options |= 0x08U;
    options |= static_cast<unsigned>(sub.retain_handling) << 4;
    s.u8(static_cast<std::uint8_t>(options));
  }
}

template <typename T>
void write_codes(Sink& s, Version v, const T& p) {
  assert(!p.reason_codes.empty() && "one reason code per topic filter");
  for (const std::uint8_t code : p.reason_codes) {
    assert_reason(detail::type_of_alternative<T>(), v, code);
    s.u8(code);
  }
}

void write_body(Sink& s, Version v, const Suback& p) {
  assert(p.packet_id != 0 && "§2.2.1: packet ids are non-zero");
  s.u16(p.packet_id);
  write_properties(s, v, p.properties, props::Context::suback);
  write_codes(s, v, p);
}

void write_body(Sink& s, Version v, const Unsubscribe& p) {
  assert(p.packet_id != 0 && "§2.2.1: packet ids are non-zero");
  assert(!p.filters.empty() && "[MQTT-3.10.3-2]: at least one topic filter");
  s.u16(p.packet_id);
  write_properties(s, v, p.properties, props::Context::unsubscribe);
  for (const std::string& filter : p.filters) {
    assert(!filter.empty() && "§4.7.3: a topic filter has at least one character");
    s.utf8(filter);
  }
}

void write_body(Sink& s, Version v, const Unsuback& p) {
  assert(p.packet_id != 0 && "§2.2.1: packet ids are non-zero");
  s.u16(p.packet_id);
  if (!is_v5(v)) {
    assert(p.reason_codes.empty() && props::empty(p.properties) && "3.1.1 UNSUBACK: id only");
    return;
  }
  props::encode(p.properties, props::Context::unsuback, s);
  write_codes(s, v, p);
}

void write_body(Sink&, Version, const Pingreq&) {}
void write_body(Sink&, Version, const Pingresp&) {}

// 5.0 §3.14.2.1, §3.15.2.1: nothing for reason 0x00 without properties, the reason code alone
// without properties.
template <typename T>
void write_reason_and_properties(Sink& s, Version v, const T& p, props::Context context) {
  assert_reason(detail::type_of_alternative<T>(), v, p.reason_code);
  if (!is_v5(v)) {
    assert(props::empty(p.properties) && "MQTT 3.1.1 has no properties");
    return;
  }
  const bool no_properties = props::empty(p.properties);
  if (p.reason_code == reason::success && no_properties) return;
  s.u8(p.reason_code);
  if (!no_properties) props::encode(p.properties, context, s);
}

void write_body(Sink& s, Version v, const Disconnect& p) {
  write_reason_and_properties(s, v, p, props::Context::disconnect);
}

void write_body(Sink& s, Version v, const Auth& p) {
  assert(is_v5(v) && "AUTH exists in MQTT 5 only");
  write_reason_and_properties(s, v, p, props::Context::auth);
}

// §2.1.3 Table 2-2.
std::uint8_t header_flags(const Publish& p) {
  return static_cast<std::uint8_t>((p.dup ? 0x08U : 0U) | (unsigned{p.qos} << 1) |
                                   (p.retain ? 0x01U : 0U));
}
std::uint8_t header_flags(const Pubrel&) { return 0x02; }
std::uint8_t header_flags(const Subscribe&) { return 0x02; }
std::uint8_t header_flags(const Unsubscribe&) { return 0x02; }
template <typename T>
std::uint8_t header_flags(const T&) {
  return 0x00;
}

template <typename T>
Version version_for(const T&, Version version) {
  return version;
}
Version version_for(const Connect& p, Version) { return p.version; }

template <typename T>
std::size_t body_size(const T& p, Version version) {
  Sink counter(nullptr);
  write_body(counter, version, p);
  assert(counter.size() <= kMaxRemainingLength && "§2.1.4: Remaining Length is at most 268435455");
  return counter.size();
}

}  // namespace

std::size_t encoded_size(const Packet& packet, Version version) {
  return std::visit(
      [&](const auto& p) {
        const std::size_t body = body_size(p, version_for(p, version));
        return 1 + wire::varint_size(static_cast<std::uint32_t>(body)) + body;
      },
      packet);
}

void encode_to(const Packet& packet, Version version, Bytes& out) {
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        const Version v = version_for(p, version);
        const std::size_t body = body_size(p, v);
        Sink sink(&out);
        sink.u8(static_cast<std::uint8_t>(
            (static_cast<unsigned>(detail::type_of_alternative<T>()) << 4) | header_flags(p)));
        sink.varint(static_cast<std::uint32_t>(body));
        write_body(sink, v, p);
      },
      packet);
}

Bytes encode(const Packet& packet, Version version) {
  Bytes out;
  out.reserve(encoded_size(packet, version));
  encode_to(packet, version, out);
  return out;
}

}  // namespace mqtt_codec
