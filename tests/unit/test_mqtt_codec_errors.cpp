// The error sibling of every golden packet in test_mqtt_codec_golden.cpp: truncated, wrong
// lengths, reserved flags and values, bad properties, each with the exact DecodeError. Also the
// fixed header and Remaining Length rules (MQTT 5.0 §2.1, §1.5.5), frame_size(), and UTF-8
// (§1.5.4). decode() sees untrusted broker bytes: every case here must come back as a value.

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include "mqtt_codec/codec.hpp"
#include "mqtt_codec/packet.hpp"

namespace {

namespace mc = mqtt_codec;
using mc::DecodeError;
using mc::Version;

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (const std::uint8_t octet : bytes) {
    if (!out.empty()) {
      out += ' ';
    }
    out += kDigits[octet >> 4];
    out += kDigits[octet & 0x0F];
  }
  return out;
}

std::string rejected(DecodeError error) {
  return "rejected " + std::to_string(static_cast<int>(error)) + " " + mc::to_string(error);
}

std::string outcome(const mc::Result<mc::Packet>& result, Version version) {
  if (result) {
    return "decodes to " + hex(mc::encode(*result, version));
  }
  return rejected(result.error());
}

void check_rejected(const mc::Bytes& packet, Version version, DecodeError error) {
  INFO("packet: ", hex(packet));
  CHECK(outcome(mc::decode(packet, version), version) == rejected(error));
}

// A fixed header with a 1-octet Remaining Length around `body`.
mc::Bytes packet_of(std::uint8_t first_octet, std::initializer_list<mc::Bytes> body_parts) {
  mc::Bytes body;
  for (const mc::Bytes& part : body_parts) {
    body.insert(body.end(), part.begin(), part.end());
  }
  REQUIRE(body.size() < 128);
  // Pushed one by one: GCC 12 warns (-Warray-bounds, falsely) on an insert after a braced init.
  mc::Bytes packet;
  packet.push_back(first_octet);
  packet.push_back(static_cast<std::uint8_t>(body.size()));
  for (const std::uint8_t octet : body) {
    packet.push_back(octet);
  }
  return packet;
}

// A 5.0 PUBLISH QoS 0 to "t" carrying `properties` (the Property Length is added here).
mc::Bytes publish_with(const mc::Bytes& properties) {
  return packet_of(0x30,
                   {{0x00, 0x01, 't', static_cast<std::uint8_t>(properties.size())}, properties});
}

// A 5.0 CONNECT, client id "c", with `properties` in the CONNECT property block.
mc::Bytes connect_with(const mc::Bytes& properties) {
  return packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00,
                           static_cast<std::uint8_t>(properties.size())},
                          properties,
                          {0x00, 0x01, 'c'}});
}

// A 5.0 CONNACK (accepted) with `properties`.
mc::Bytes connack_with(const mc::Bytes& properties) {
  return packet_of(0x20, {{0x00, 0x00, static_cast<std::uint8_t>(properties.size())}, properties});
}

// A 5.0 PUBLISH QoS 0 to "t/x" (a topic name as given: length prefix added here).
mc::Bytes publish_to(const mc::Bytes& topic) {
  return packet_of(0x30, {{0x00, static_cast<std::uint8_t>(topic.size())}, topic, {0x00}});
}

}  // namespace

// ---- §2.1 fixed header, §1.5.5 Remaining Length, frame_size() ------------------------------

TEST_CASE("mqtt codec: §2.1 empty input and a lone first octet are truncated") {
  check_rejected({}, Version::v5, DecodeError::truncated);
  check_rejected({0x30}, Version::v5, DecodeError::truncated);
  check_rejected({0x30, 0x80}, Version::v5, DecodeError::truncated);  // VBI still continuing
}

TEST_CASE("mqtt codec: §2.1.2 packet type 0 is reserved, AUTH is reserved in 3.1.1") {
  check_rejected({0x00, 0x00}, Version::v5, DecodeError::reserved_type);
  check_rejected({0x00, 0x00}, Version::v311, DecodeError::reserved_type);
  check_rejected({0xF0, 0x00}, Version::v311, DecodeError::reserved_type);
}

TEST_CASE("mqtt codec: §1.5.5 Remaining Length of five octets is bad_remaining_length") {
  check_rejected({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, Version::v5,
                 DecodeError::bad_remaining_length);
  check_rejected({0x30, 0x80, 0x80, 0x80, 0x80}, Version::v5, DecodeError::bad_remaining_length);
}

TEST_CASE(
    "mqtt codec: §1.5.5 non-minimal Remaining Length is bad_remaining_length in both versions") {
  // [MQTT-1.5.5-1]: the fewest octets. 0x80 0x00 is a 2-octet zero.
  check_rejected({0xC0, 0x80, 0x00}, Version::v5, DecodeError::bad_remaining_length);
  check_rejected({0xC0, 0x80, 0x00}, Version::v311, DecodeError::bad_remaining_length);
  check_rejected({0x40, 0x82, 0x00, 0x00, 0x01}, Version::v311, DecodeError::bad_remaining_length);
}

TEST_CASE(
    "mqtt codec: §2.1.4 Remaining Length that differs from the packet is "
    "remaining_length_mismatch") {
  check_rejected({0x40, 0x02, 0x00}, Version::v311, DecodeError::remaining_length_mismatch);
  check_rejected({0x40, 0x02, 0x00, 0x01, 0x00}, Version::v311,
                 DecodeError::remaining_length_mismatch);
  check_rejected({0xC0, 0x01}, Version::v311, DecodeError::remaining_length_mismatch);
}

TEST_CASE("mqtt codec: §2.1.3 reserved fixed header flags are bad_flags") {
  for (const Version v : {Version::v311, Version::v5}) {
    check_rejected({0x11, 0x00}, v, DecodeError::bad_flags);              // CONNECT 0001
    check_rejected({0x28, 0x02, 0x00, 0x00}, v, DecodeError::bad_flags);  // CONNACK 1000
    check_rejected({0x42, 0x02, 0x00, 0x01}, v, DecodeError::bad_flags);  // PUBACK 0010
    check_rejected({0x51, 0x02, 0x00, 0x01}, v, DecodeError::bad_flags);  // PUBREC 0001
    check_rejected({0x60, 0x02, 0x00, 0x01}, v, DecodeError::bad_flags);  // PUBREL 0000
    check_rejected({0x63, 0x02, 0x00, 0x01}, v, DecodeError::bad_flags);  // PUBREL 0011
    check_rejected({0x72, 0x02, 0x00, 0x01}, v, DecodeError::bad_flags);  // PUBCOMP 0010
    check_rejected({0x80, 0x00}, v, DecodeError::bad_flags);              // SUBSCRIBE 0000
    check_rejected({0x92, 0x00}, v, DecodeError::bad_flags);              // SUBACK 0010
    check_rejected({0xA0, 0x00}, v, DecodeError::bad_flags);              // UNSUBSCRIBE 0000
    check_rejected({0xB8, 0x00}, v, DecodeError::bad_flags);              // UNSUBACK 1000
    check_rejected({0xC1, 0x00}, v, DecodeError::bad_flags);              // PINGREQ 0001
    check_rejected({0xD4, 0x00}, v, DecodeError::bad_flags);              // PINGRESP 0100
    check_rejected({0xE2, 0x00}, v, DecodeError::bad_flags);              // DISCONNECT 0010
  }
  check_rejected({0xF1, 0x00}, Version::v5, DecodeError::bad_flags);  // AUTH 0001
}

TEST_CASE("mqtt codec: frame_size cuts packets from a stream prefix") {
  using Span = std::span<const std::uint8_t>;
  const mc::Bytes publish{0x30, 0x07, 0x00, 0x03, 'a', '/', 'b', 'h', 'i'};
  CHECK(*mc::frame_size(Span{}) == 0);                  // nothing yet
  CHECK(*mc::frame_size(Span(publish).first(1)) == 0);  // no Remaining Length yet
  CHECK(*mc::frame_size(Span(publish).first(2)) == 9);  // enough to know
  CHECK(*mc::frame_size(publish) == 9);
  const mc::Bytes big{0x30, 0xC8, 0x01};  // Remaining Length 200: 203 octets in all
  CHECK(*mc::frame_size(Span(big).first(2)) == 0);
  CHECK(*mc::frame_size(big) == 203);
  CHECK(mc::frame_size(big, 202).error() == DecodeError::packet_too_large);
  CHECK(*mc::frame_size(big, 203) == 203);
  const mc::Bytes largest{0x30, 0xFF, 0xFF, 0xFF, 0x7F};  // §2.1.4: 268,435,455
  CHECK(*mc::frame_size(largest) == mc::kMaxRemainingLength + 5);
  const mc::Bytes five{0x30, 0xFF, 0xFF, 0xFF, 0xFF};
  CHECK(mc::frame_size(five).error() == DecodeError::bad_remaining_length);
  CHECK(*mc::frame_size(Span(five).first(4)) == 0);  // the 4th octet may still end it
  const mc::Bytes non_minimal{0x30, 0x80, 0x00};
  CHECK(mc::frame_size(non_minimal).error() == DecodeError::bad_remaining_length);
}

// ---- §1.5.4 UTF-8 ----------------------------------------------------------------------------

TEST_CASE("mqtt codec: §1.5.4 ill-formed UTF-8 in a topic name is invalid_utf8") {
  check_rejected(publish_to({'a', 0x00}), Version::v5, DecodeError::invalid_utf8);   // U+0000
  check_rejected(publish_to({0xC0, 0x80}), Version::v5, DecodeError::invalid_utf8);  // overlong NUL
  check_rejected(publish_to({0xC1, 0xBF}), Version::v5, DecodeError::invalid_utf8);  // overlong
  check_rejected(publish_to({0xE0, 0x80, 0xAF}), Version::v5, DecodeError::invalid_utf8);
  check_rejected(publish_to({0xF0, 0x80, 0x80, 0xAF}), Version::v5, DecodeError::invalid_utf8);
  check_rejected(publish_to({0xED, 0xA0, 0x80}), Version::v5, DecodeError::invalid_utf8);  // D800
  check_rejected(publish_to({0xED, 0xBF, 0xBF}), Version::v5, DecodeError::invalid_utf8);  // DFFF
  check_rejected(publish_to({0xF4, 0x90, 0x80, 0x80}), Version::v5,
                 DecodeError::invalid_utf8);                                         // U+110000
  check_rejected(publish_to({0xE2, 0x82}), Version::v5, DecodeError::invalid_utf8);  // cut short
  check_rejected(publish_to({0x80}), Version::v311,
                 DecodeError::invalid_utf8);  // lone continuation
  check_rejected(publish_to({0xFF}), Version::v311, DecodeError::invalid_utf8);
}

TEST_CASE("mqtt codec: §1.5.4 well-formed multi-octet UTF-8 and U+FEFF pass") {
  for (const mc::Bytes& topic : {mc::Bytes{0xC3, 0xA9},                 // U+00E9
                                 mc::Bytes{0xED, 0x9F, 0xBF},           // U+D7FF
                                 mc::Bytes{0xEF, 0xBB, 0xBF},           // U+FEFF (§1.5.4)
                                 mc::Bytes{0xF4, 0x8F, 0xBF, 0xBF}}) {  // U+10FFFF
    const auto packet = mc::decode(publish_to(topic), Version::v5);
    CHECK(packet.has_value());
  }
}

// ---- §3.1 CONNECT --------------------------------------------------------------------------

TEST_CASE("mqtt codec: §3.1 CONNECT cut short inside its fields is truncated (3.1.1)") {
  // Remaining Length matches, but the fields stop after the protocol level.
  check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04}}), Version::v311,
                 DecodeError::truncated);
  // The client identifier's length says 3, one octet follows.
  check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00, 0x3C},
                                  {0x00, 0x03, 'g'}}),
                 Version::v311, DecodeError::truncated);
  // The will flag is set, but no Will Topic follows the client identifier.
  check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3C},
                                  {0x00, 0x01, 'c'}}),
                 Version::v311, DecodeError::truncated);
}

TEST_CASE("mqtt codec: §3.1.2.1 CONNECT protocol name or level we do not speak is bad_protocol") {
  // MQTT 3.1 "MQIsdp" level 3.
  check_rejected(packet_of(0x10, {{0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C,
                                   0x00, 0x01, 'c'}}),
                 Version::v311, DecodeError::bad_protocol);
  check_rejected(
      packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}}),
      Version::v311, DecodeError::bad_protocol);
  check_rejected(
      packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}}),
      Version::v5, DecodeError::bad_protocol);
  check_rejected(
      packet_of(0x10, {{0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'}}),
      Version::v311, DecodeError::bad_protocol);
}

TEST_CASE("mqtt codec: §3.1.2.3 CONNECT reserved and inconsistent flags are bad_connect_flags") {
  const auto connect311 = [](std::uint8_t flags) {
    return packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x3C},
                            {0x00, 0x01, 'c'},
                            {0x00, 0x01, 't', 0x00, 0x00},  // will topic and payload, if read
                            {0x00, 0x01, 'u'},              // user name, if read
                            {0x00, 0x01, 'p'}});            // password, if read
  };
  check_rejected(connect311(0x03), Version::v311, DecodeError::bad_connect_flags);  // reserved
  check_rejected(connect311(0x08), Version::v311, DecodeError::bad_connect_flags);  // QoS, no will
  check_rejected(connect311(0x20), Version::v311,
                 DecodeError::bad_connect_flags);  // retain, no will
  check_rejected(connect311(0x1C), Version::v311, DecodeError::bad_connect_flags);  // will QoS 3
  check_rejected(connect311(0x44), Version::v311, DecodeError::bad_connect_flags);  // pw, no user
  // The well-formed neighbour: will, user and password.
  CHECK(mc::decode(connect311(0xC4), Version::v311).has_value());
}

TEST_CASE("mqtt codec: §3.1.3 CONNECT with octets after the password is trailing_bytes (3.1.1)") {
  check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xC2, 0x00, 0x3C},
                                  {0x00, 0x01, 'c', 0x00, 0x01, 'u', 0x00, 0x01, 'p', 0xEE}}),
                 Version::v311, DecodeError::trailing_bytes);
}

TEST_CASE("mqtt codec: §3.1.3.3 CONNECT will topic empty or with a wildcard is bad_topic") {
  for (const mc::Bytes& topic : {mc::Bytes{0x00, 0x00}, mc::Bytes{0x00, 0x03, 'a', '/', '#'}}) {
    check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x06, 0x00, 0x3C},
                                    {0x00, 0x01, 'c'},
                                    topic,
                                    {0x00, 0x00}}),
                   Version::v311, DecodeError::bad_topic);
  }
}

TEST_CASE("mqtt codec: §3.1.2.11 CONNECT property errors (5.0)") {
  // Topic Alias (0x23) belongs to PUBLISH only (§2.2.2.2 Table 2-4).
  check_rejected(connect_with({0x23, 0x00, 0x01}), Version::v5, DecodeError::property_not_allowed);
  // Session Expiry Interval twice.
  check_rejected(connect_with({0x11, 0x00, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0x00, 0x02}),
                 Version::v5, DecodeError::duplicate_property);
  // §3.1.2.11.3: Receive Maximum 0 is a Protocol Error.
  check_rejected(connect_with({0x21, 0x00, 0x00}), Version::v5, DecodeError::bad_property);
  // §3.1.2.11.4: Maximum Packet Size 0.
  check_rejected(connect_with({0x27, 0x00, 0x00, 0x00, 0x00}), Version::v5,
                 DecodeError::bad_property);
  // §3.1.2.11.7: Request Problem Information other than 0 or 1.
  check_rejected(connect_with({0x17, 0x02}), Version::v5, DecodeError::bad_property);
  // §3.1.2.11.10: Authentication Data without Authentication Method.
  check_rejected(connect_with({0x16, 0x00, 0x01, 0x2A}), Version::v5, DecodeError::bad_property);
  // 0x00 and 0x7F are no property identifiers.
  check_rejected(connect_with({0x00, 0x00}), Version::v5, DecodeError::bad_property);
  check_rejected(connect_with({0x7F, 0x00}), Version::v5, DecodeError::bad_property);
  // A value cut off by the end of the property block.
  check_rejected(connect_with({0x21, 0x00}), Version::v5, DecodeError::truncated);
  // User property whose value is not UTF-8.
  check_rejected(connect_with({0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xFF}), Version::v5,
                 DecodeError::invalid_utf8);
}

TEST_CASE("mqtt codec: §3.1.3.2 CONNECT will property not allowed there (5.0)") {
  // Session Expiry Interval is a CONNECT property, not a will property.
  check_rejected(packet_of(0x10, {{0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x06, 0x00, 0x3C, 0x00},
                                  {0x00, 0x01, 'c'},
                                  {0x05, 0x11, 0x00, 0x00, 0x00, 0x01},
                                  {0x00, 0x01, 't', 0x00, 0x00}}),
                 Version::v5, DecodeError::property_not_allowed);
  // Will Delay Interval is a will property, not a CONNECT property.
  check_rejected(connect_with({0x18, 0x00, 0x00, 0x00, 0x01}), Version::v5,
                 DecodeError::property_not_allowed);
}

// ---- §3.2 CONNACK ----------------------------------------------------------------------------

TEST_CASE("mqtt codec: §3.2 CONNACK errors (3.1.1)") {
  check_rejected({0x20, 0x02, 0x00, 0x06}, Version::v311, DecodeError::bad_reason_code);  // 6..255
  check_rejected({0x20, 0x02, 0x00, 0x80}, Version::v311, DecodeError::bad_reason_code);
  check_rejected({0x20, 0x02, 0x02, 0x00}, Version::v311, DecodeError::bad_connect_flags);
  // [MQTT-3.2.2-4]: a refused connection has no session.
  check_rejected({0x20, 0x02, 0x01, 0x05}, Version::v311, DecodeError::bad_connect_flags);
  check_rejected({0x20, 0x01, 0x00}, Version::v311, DecodeError::truncated);
  check_rejected({0x20, 0x03, 0x00, 0x00, 0x00}, Version::v311, DecodeError::trailing_bytes);
}

TEST_CASE("mqtt codec: §3.2.2.2 CONNACK reason code and property errors (5.0)") {
  // 0x01 is a SUBACK code, not in CONNACK's Table 3-1; 0x05 is a 3.1.1 return code only.
  check_rejected({0x20, 0x03, 0x00, 0x01, 0x00}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0x20, 0x03, 0x00, 0x05, 0x00}, Version::v5, DecodeError::bad_reason_code);
  // [MQTT-3.2.2-6].
  check_rejected({0x20, 0x03, 0x01, 0x87, 0x00}, Version::v5, DecodeError::bad_connect_flags);
  // The Property Length is not optional in CONNACK.
  check_rejected({0x20, 0x02, 0x00, 0x00}, Version::v5, DecodeError::truncated);
  // Property Length says 5, 1 octet follows.
  check_rejected({0x20, 0x04, 0x00, 0x00, 0x05, 0x24}, Version::v5, DecodeError::truncated);
  check_rejected(connack_with({0x23, 0x00, 0x01}), Version::v5, DecodeError::property_not_allowed);
  check_rejected(connack_with({0x24, 0x02}), Version::v5, DecodeError::bad_property);  // Max QoS 2
  check_rejected(connack_with({0x2A, 0x05}), Version::v5, DecodeError::bad_property);
  check_rejected(connack_with({0x12, 0x00, 0x01, 'a', 0x12, 0x00, 0x01, 'b'}), Version::v5,
                 DecodeError::duplicate_property);
  // Property Length as a non-minimal variable byte integer.
  check_rejected({0x20, 0x04, 0x00, 0x00, 0x80, 0x00}, Version::v5, DecodeError::bad_property);
}

// ---- §3.3 PUBLISH ----------------------------------------------------------------------------

TEST_CASE("mqtt codec: §3.3.1 PUBLISH QoS 3 and DUP on QoS 0 are bad_flags") {
  for (const Version v : {Version::v311, Version::v5}) {
    check_rejected({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}, v, DecodeError::bad_flags);
    check_rejected({0x38, 0x03, 0x00, 0x01, 't'}, v, DecodeError::bad_flags);
  }
}

TEST_CASE("mqtt codec: §3.3.2 PUBLISH field errors (3.1.1)") {
  check_rejected({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}, Version::v311,
                 DecodeError::zero_packet_id);
  check_rejected({0x32, 0x04, 0x00, 0x01, 't', 0x00}, Version::v311, DecodeError::truncated);
  check_rejected({0x30, 0x02, 0x00, 0x05}, Version::v311, DecodeError::truncated);
  check_rejected({0x30, 0x02, 0x00, 0x00}, Version::v311, DecodeError::bad_topic);  // empty
  check_rejected({0x30, 0x05, 0x00, 0x03, 'a', '/', '+'}, Version::v311, DecodeError::bad_topic);
}

TEST_CASE("mqtt codec: §3.3.2.3 PUBLISH property errors (5.0)") {
  // Empty Topic Name without a Topic Alias (§3.3.2.3.4).
  check_rejected({0x30, 0x03, 0x00, 0x00, 0x00}, Version::v5, DecodeError::bad_topic);
  check_rejected(publish_with({0x23, 0x00, 0x00}), Version::v5, DecodeError::bad_property);
  check_rejected(publish_with({0x0B, 0x00}), Version::v5, DecodeError::bad_property);
  check_rejected(publish_with({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}), Version::v5,
                 DecodeError::bad_property);
  check_rejected(publish_with({0x01, 0x02}), Version::v5, DecodeError::bad_property);
  check_rejected(publish_with({0x1F, 0x00, 0x01, 'r'}), Version::v5,
                 DecodeError::property_not_allowed);
  check_rejected(publish_with({0x23, 0x00, 0x01, 0x23, 0x00, 0x02}), Version::v5,
                 DecodeError::duplicate_property);
  check_rejected(publish_with({0x09, 0x00, 0x05, 0x01}), Version::v5, DecodeError::truncated);
  check_rejected(publish_with({0x03, 0x00, 0x02, 0xC3, 0x28}), Version::v5,
                 DecodeError::invalid_utf8);
  // The Property Length is not optional in PUBLISH.
  check_rejected({0x30, 0x03, 0x00, 0x01, 't'}, Version::v5, DecodeError::truncated);
}

// ---- §3.4-§3.7 PUBACK, PUBREC, PUBREL, PUBCOMP ----------------------------------------------

TEST_CASE("mqtt codec: §3.4-§3.7 publish acknowledgement length and packet id errors (3.1.1)") {
  for (const std::uint8_t first :
       {std::uint8_t{0x40}, std::uint8_t{0x50}, std::uint8_t{0x62}, std::uint8_t{0x70}}) {
    check_rejected({first, 0x01, 0x00}, Version::v311, DecodeError::truncated);
    check_rejected({first, 0x03, 0x00, 0x01, 0x00}, Version::v311, DecodeError::trailing_bytes);
    check_rejected({first, 0x02, 0x00, 0x00}, Version::v311, DecodeError::zero_packet_id);
  }
}

TEST_CASE("mqtt codec: §3.4-§3.7 publish acknowledgement reason codes per packet (5.0)") {
  check_rejected({0x40, 0x03, 0x00, 0x01, 0x92}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0x50, 0x03, 0x00, 0x01, 0x05}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0x62, 0x03, 0x00, 0x01, 0x10}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0x70, 0x03, 0x00, 0x01, 0x80}, Version::v5, DecodeError::bad_reason_code);
  CHECK(mc::decode(mc::Bytes{0x50, 0x03, 0x00, 0x01, 0x10}, Version::v5).has_value());
  CHECK(mc::decode(mc::Bytes{0x70, 0x03, 0x00, 0x01, 0x92}, Version::v5).has_value());
}

TEST_CASE("mqtt codec: §3.4.2.2 publish acknowledgement property errors (5.0)") {
  check_rejected({0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01}, Version::v5,
                 DecodeError::property_not_allowed);
  check_rejected({0x50, 0x0C, 0x00, 0x01, 0x00, 0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b'},
                 Version::v5, DecodeError::duplicate_property);
  check_rejected({0x62, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00}, Version::v5,
                 DecodeError::trailing_bytes);
  check_rejected({0x70, 0x05, 0x00, 0x01, 0x00, 0x04, 0x1F}, Version::v5, DecodeError::truncated);
  check_rejected({0x40, 0x02, 0x00, 0x00}, Version::v5, DecodeError::zero_packet_id);
}

// ---- §3.8 SUBSCRIBE, §3.9 SUBACK -------------------------------------------------------------

TEST_CASE("mqtt codec: §3.8.3 SUBSCRIBE errors (3.1.1)") {
  check_rejected({0x82, 0x02, 0x00, 0x01}, Version::v311, DecodeError::no_topic_filters);
  check_rejected({0x82, 0x05, 0x00, 0x00, 0x00, 0x01, 't'}, Version::v311,
                 DecodeError::zero_packet_id);
  check_rejected({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}, Version::v311, DecodeError::truncated);
  check_rejected({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x03}, Version::v311,
                 DecodeError::bad_subscription_options);
  // 3.1.1 has no No Local / Retain As Published / Retain Handling bits: reserved there.
  check_rejected({0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x04}, Version::v311,
                 DecodeError::bad_subscription_options);
  check_rejected({0x82, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}, Version::v311, DecodeError::bad_topic);
}

TEST_CASE("mqtt codec: §3.8.3.1 SUBSCRIBE option and property errors (5.0)") {
  check_rejected({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x30}, Version::v5,
                 DecodeError::bad_subscription_options);  // Retain Handling 3
  check_rejected({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x40}, Version::v5,
                 DecodeError::bad_subscription_options);  // reserved bit 6
  check_rejected({0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', 0x03}, Version::v5,
                 DecodeError::bad_subscription_options);  // QoS 3
  check_rejected({0x82, 0x03, 0x00, 0x01, 0x00}, Version::v5, DecodeError::no_topic_filters);
  // §3.8.2.1.2: one Subscription Identifier at most, and not 0.
  check_rejected({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 't', 0x00},
                 Version::v5, DecodeError::duplicate_property);
  check_rejected({0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 't', 0x00}, Version::v5,
                 DecodeError::bad_property);
  check_rejected({0x82, 0x0B, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 'r', 0x00, 0x01, 't', 0x00},
                 Version::v5, DecodeError::property_not_allowed);
}

TEST_CASE("mqtt codec: §3.9.3 SUBACK errors (3.1.1)") {
  check_rejected({0x90, 0x03, 0x00, 0x01, 0x03}, Version::v311, DecodeError::bad_reason_code);
  check_rejected({0x90, 0x03, 0x00, 0x01, 0x87}, Version::v311, DecodeError::bad_reason_code);
  check_rejected({0x90, 0x02, 0x00, 0x01}, Version::v311, DecodeError::truncated);  // no code
  check_rejected({0x90, 0x03, 0x00, 0x00, 0x00}, Version::v311, DecodeError::zero_packet_id);
}

TEST_CASE("mqtt codec: §3.9.3 SUBACK errors (5.0)") {
  // 0x11 is an UNSUBACK code; 0x87 is fine in 5.0.
  check_rejected({0x90, 0x04, 0x00, 0x01, 0x00, 0x11}, Version::v5, DecodeError::bad_reason_code);
  CHECK(mc::decode(mc::Bytes{0x90, 0x04, 0x00, 0x01, 0x00, 0x87}, Version::v5).has_value());
  check_rejected({0x90, 0x03, 0x00, 0x01, 0x00}, Version::v5, DecodeError::truncated);
  check_rejected({0x90, 0x06, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00}, Version::v5,
                 DecodeError::property_not_allowed);
}

// ---- §3.10 UNSUBSCRIBE, §3.11 UNSUBACK ------------------------------------------------------

TEST_CASE("mqtt codec: §3.10.3 UNSUBSCRIBE errors (3.1.1)") {
  check_rejected({0xA2, 0x02, 0x00, 0x01}, Version::v311, DecodeError::no_topic_filters);
  check_rejected({0xA2, 0x04, 0x00, 0x01, 0x00, 0x00}, Version::v311, DecodeError::bad_topic);
  check_rejected({0xA2, 0x04, 0x00, 0x01, 0x00, 0x01}, Version::v311, DecodeError::truncated);
  check_rejected({0xA2, 0x05, 0x00, 0x00, 0x00, 0x01, 't'}, Version::v311,
                 DecodeError::zero_packet_id);
}

TEST_CASE("mqtt codec: §3.10.2.1 UNSUBSCRIBE errors (5.0)") {
  check_rejected({0xA2, 0x03, 0x00, 0x01, 0x00}, Version::v5, DecodeError::no_topic_filters);
  check_rejected({0xA2, 0x0A, 0x00, 0x01, 0x04, 0x1F, 0x00, 0x01, 'r', 0x00, 0x01, 't'},
                 Version::v5, DecodeError::property_not_allowed);
}

TEST_CASE("mqtt codec: §3.11 UNSUBACK errors (3.1.1)") {
  check_rejected({0xB0, 0x03, 0x00, 0x01, 0x00}, Version::v311, DecodeError::trailing_bytes);
  check_rejected({0xB0, 0x02, 0x00, 0x00}, Version::v311, DecodeError::zero_packet_id);
  check_rejected({0xB0, 0x01, 0x00}, Version::v311, DecodeError::truncated);
}

TEST_CASE("mqtt codec: §3.11.3 UNSUBACK errors (5.0)") {
  check_rejected({0xB0, 0x02, 0x00, 0x01}, Version::v5, DecodeError::truncated);  // no properties
  check_rejected({0xB0, 0x03, 0x00, 0x01, 0x00}, Version::v5, DecodeError::truncated);  // no code
  check_rejected({0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0xB0, 0x06, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00}, Version::v5,
                 DecodeError::property_not_allowed);
}

// ---- §3.12-§3.15 PINGREQ, PINGRESP, DISCONNECT, AUTH ----------------------------------------

TEST_CASE("mqtt codec: §3.12 §3.13 PINGREQ and PINGRESP with a body are trailing_bytes") {
  for (const Version v : {Version::v311, Version::v5}) {
    check_rejected({0xC0, 0x01, 0x00}, v, DecodeError::trailing_bytes);
    check_rejected({0xD0, 0x01, 0x00}, v, DecodeError::trailing_bytes);
  }
}

TEST_CASE("mqtt codec: §3.14 DISCONNECT errors (3.1.1)") {
  check_rejected({0xE0, 0x01, 0x00}, Version::v311, DecodeError::trailing_bytes);
}

TEST_CASE("mqtt codec: §3.14.2 DISCONNECT errors (5.0)") {
  check_rejected({0xE0, 0x01, 0x01}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0xE0, 0x01, 0x18}, Version::v5, DecodeError::bad_reason_code);  // an AUTH code
  check_rejected({0xE0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01}, Version::v5,
                 DecodeError::property_not_allowed);
  check_rejected({0xE0, 0x03, 0x00, 0x00, 0x00}, Version::v5, DecodeError::trailing_bytes);
  check_rejected({0xE0, 0x03, 0x00, 0x05, 0x11}, Version::v5, DecodeError::truncated);
}

TEST_CASE("mqtt codec: §3.15.2 AUTH errors (5.0)") {
  check_rejected({0xF0, 0x01, 0x04}, Version::v5, DecodeError::bad_reason_code);
  check_rejected({0xF0, 0x07, 0x18, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01}, Version::v5,
                 DecodeError::property_not_allowed);
  check_rejected({0xF0, 0x06, 0x18, 0x04, 0x16, 0x00, 0x01, 0x2A}, Version::v5,
                 DecodeError::bad_property);  // data without method
  check_rejected({0xF0, 0x02, 0x18, 0x01}, Version::v5, DecodeError::truncated);
  // 3.1.1 has no AUTH (see §2.1.2 above).
  check_rejected({0xF0, 0x00}, Version::v311, DecodeError::reserved_type);
}
