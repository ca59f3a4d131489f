// Golden packets for every MQTT 3.1.1 and 5.0 control packet (§3.1-§3.15 of each spec). Each
// packet is written octet by octet as the spec's figures lay it out; each case checks that the
// bytes decode to the struct, that the struct encodes to the same bytes, encoded_size() and
// frame_size(). The error sibling of every packet lives in test_mqtt_codec_errors.cpp.

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "mqtt_codec/codec.hpp"
#include "mqtt_codec/packet.hpp"

namespace {

namespace mc = mqtt_codec;
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

void check_golden(const mc::Packet& expected, const mc::Bytes& wire, Version version) {
  INFO("wire: ", hex(wire));
  const auto packet = mc::decode(wire, version);
  REQUIRE_MESSAGE(packet.has_value(),
                  "decode failed: ", std::string(mc::to_string(packet.error())));
  CHECK_MESSAGE(*packet == expected, "decoded value re-encodes as ",
                hex(mc::encode(*packet, version)));
  CHECK(hex(mc::encode(expected, version)) == hex(wire));
  CHECK(mc::encoded_size(expected, version) == wire.size());
  mc::Bytes appended{0xAA};
  mc::encode_to(expected, version, appended);
  CHECK(appended.size() == wire.size() + 1);
  CHECK(static_cast<unsigned>(mc::type_of(expected)) == static_cast<unsigned>(wire[0] >> 4));
  const auto framed = mc::frame_size(wire);
  REQUIRE(framed.has_value());
  CHECK(*framed == wire.size());
}

// A valid packet in a longer form than encode() writes: it decodes to `expected`, which
// re-encodes to `shortest`.
void check_decodes(const mc::Bytes& wire, Version version, const mc::Packet& expected,
                   const mc::Bytes& shortest) {
  INFO("wire: ", hex(wire));
  const auto packet = mc::decode(wire, version);
  REQUIRE_MESSAGE(packet.has_value(),
                  "decode failed: ", std::string(mc::to_string(packet.error())));
  CHECK(*packet == expected);
  CHECK(hex(mc::encode(expected, version)) == hex(shortest));
  CHECK(mc::encoded_size(expected, version) == shortest.size());
}

mc::Bytes text(const std::string& s) { return {s.begin(), s.end()}; }

}  // namespace

// ---- MQTT 3.1.1 ----------------------------------------------------------------------------

TEST_CASE("mqtt codec: §3.1 CONNECT with will, user name and password (3.1.1)") {
  const mc::Bytes wire{
      0x10,                                      // CONNECT, flags 0000
      0x27,                                      // Remaining Length 39
      0x00, 0x04, 'M', 'Q', 'T', 'T',            // §3.1.2.1 Protocol Name "MQTT"
      0x04,                                      // §3.1.2.2 Protocol Level 4
      0xEE,                                      // §3.1.2.3 flags: user, password, will retain,
                                                 //   will QoS 01, will, clean session
      0x00, 0x3C,                                // §3.1.2.10 Keep Alive 60 s
      0x00, 0x03, 'g', 'w', '1',                 // §3.1.3.1 Client Identifier "gw1"
      0x00, 0x06, 'g', 'w', '/', 'l', 'w', 't',  // §3.1.3.2 Will Topic "gw/lwt"
      0x00, 0x04, 'g', 'o', 'n', 'e',            // §3.1.3.3 Will Message "gone"
      0x00, 0x04, 'u', 's', 'e', 'r',            // §3.1.3.4 User Name "user"
      0x00, 0x02, 'p', 'w',                      // §3.1.3.5 Password "pw"
  };
  check_golden(mc::Connect{.version = Version::v311,
                           .clean_start = true,
                           .keep_alive = 60,
                           .client_id = "gw1",
                           .will = mc::Will{.topic = "gw/lwt",
                                            .payload = text("gone"),
                                            .qos = 1,
                                            .retain = true,
                                            .properties = {}},
                           .username = "user",
                           .password = text("pw"),
                           .properties = {}},
               wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.1 CONNECT minimal, persistent session, empty client id (3.1.1)") {
  const mc::Bytes wire{
      0x10,                            // CONNECT
      0x0C,                            // Remaining Length 12
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name
      0x04,                            // Protocol Level 4
      0x00,                            // flags: nothing, CleanSession 0
      0x00, 0x00,                      // Keep Alive 0 (off)
      0x00, 0x00,                      // Client Identifier "" (§3.1.3.1: the server decides)
  };
  // CONNECT carries its own version: the argument is ignored for it.
  mc::Connect connect;
  connect.clean_start = false;
  check_golden(connect, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.2 CONNACK session present, accepted (3.1.1)") {
  const mc::Bytes wire{
      0x20,  // CONNACK
      0x02,  // Remaining Length 2
      0x01,  // §3.2.2.2 Session Present 1
      0x00,  // §3.2.2.3 return code 0 accepted
  };
  check_golden(mc::Connack{.session_present = true, .reason_code = 0, .properties = {}}, wire,
               Version::v311);
}

TEST_CASE("mqtt codec: §3.2 CONNACK refused, bad user name or password (3.1.1)") {
  const mc::Bytes wire{
      0x20,  // CONNACK
      0x02,  // Remaining Length 2
      0x00,  // Session Present 0
      0x04,  // return code 4: bad user name or password
  };
  check_golden(mc::Connack{.session_present = false, .reason_code = 4, .properties = {}}, wire,
               Version::v311);
}

TEST_CASE("mqtt codec: §3.3 PUBLISH QoS 0 (3.1.1)") {
  const mc::Bytes wire{
      0x30,                       // PUBLISH, DUP 0, QoS 00, RETAIN 0
      0x07,                       // Remaining Length 7
      0x00, 0x03, 'a', '/', 'b',  // §3.3.2.1 Topic Name "a/b" (no Packet Identifier at QoS 0)
      'h',  'i',                  // §3.3.3 payload "hi"
  };
  check_golden(mc::Publish{.topic = "a/b", .payload = text("hi"), .properties = {}}, wire,
               Version::v311);
}

TEST_CASE("mqtt codec: §3.3 PUBLISH QoS 1 DUP RETAIN (3.1.1)") {
  const mc::Bytes wire{
      0x3B,                       // PUBLISH, DUP 1, QoS 01, RETAIN 1
      0x08,                       // Remaining Length 8
      0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
      0x01, 0x02,                 // §3.3.2.2 Packet Identifier 258
      'x',                        // payload "x"
  };
  check_golden(mc::Publish{.topic = "a/b",
                           .payload = text("x"),
                           .qos = 1,
                           .retain = true,
                           .dup = true,
                           .packet_id = 258,
                           .properties = {}},
               wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.3 PUBLISH QoS 2 with empty payload (3.1.1)") {
  const mc::Bytes wire{
      0x34,             // PUBLISH, DUP 0, QoS 10, RETAIN 0
      0x05,             // Remaining Length 5
      0x00, 0x01, 't',  // Topic Name "t"
      0xFF, 0xFF,       // Packet Identifier 65535
                        // payload: empty (zero length is valid, §3.3.3)
  };
  check_golden(
      mc::Publish{.topic = "t", .payload = {}, .qos = 2, .packet_id = 65535, .properties = {}},
      wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.4 PUBACK (3.1.1)") {
  const mc::Bytes wire{0x40, 0x02,   // PUBACK, Remaining Length 2
                       0x00, 0x07};  // Packet Identifier 7
  check_golden(mc::Puback{.packet_id = 7, .properties = {}}, wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.5 PUBREC (3.1.1)") {
  const mc::Bytes wire{0x50, 0x02,   // PUBREC, Remaining Length 2
                       0x12, 0x34};  // Packet Identifier 0x1234
  check_golden(mc::Pubrec{.packet_id = 0x1234, .properties = {}}, wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.6 PUBREL (3.1.1)") {
  const mc::Bytes wire{0x62, 0x02,   // PUBREL, flags 0010 (§3.6.1), Remaining Length 2
                       0x12, 0x34};  // Packet Identifier 0x1234
  check_golden(mc::Pubrel{.packet_id = 0x1234, .properties = {}}, wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.7 PUBCOMP (3.1.1)") {
  const mc::Bytes wire{0x70, 0x02,   // PUBCOMP, Remaining Length 2
                       0x12, 0x34};  // Packet Identifier 0x1234
  check_golden(mc::Pubcomp{.packet_id = 0x1234, .properties = {}}, wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.8 SUBSCRIBE two filters (3.1.1)") {
  const mc::Bytes wire{
      0x82,                       // SUBSCRIBE, flags 0010 (§3.8.1)
      0x0E,                       // Remaining Length 14
      0x00, 0x0A,                 // Packet Identifier 10
      0x00, 0x03, 'a', '/', '+',  // Topic Filter "a/+"
      0x01,                       // Requested QoS 1
      0x00, 0x03, 'b', '/', '#',  // Topic Filter "b/#"
      0x02,                       // Requested QoS 2
  };
  check_golden(
      mc::Subscribe{.packet_id = 10,
                    .subscriptions = {{.filter = "a/+", .qos = 1}, {.filter = "b/#", .qos = 2}},
                    .properties = {}},
      wire, Version::v311);
}

TEST_CASE("mqtt codec: §3.9 SUBACK every return code (3.1.1)") {
  const mc::Bytes wire{
      0x90,        // SUBACK
      0x06,        // Remaining Length 6
      0x00, 0x0A,  // Packet Identifier 10
      0x00,        // Success, maximum QoS 0
      0x01,        // Success, maximum QoS 1
      0x02,        // Success, maximum QoS 2
      0x80,        // Failure
  };
  check_golden(
      mc::Suback{.packet_id = 10, .reason_codes = {0x00, 0x01, 0x02, 0x80}, .properties = {}}, wire,
      Version::v311);
}

TEST_CASE("mqtt codec: §3.10 UNSUBSCRIBE two filters (3.1.1)") {
  const mc::Bytes wire{
      0xA2,                       // UNSUBSCRIBE, flags 0010 (§3.10.1)
      0x0C,                       // Remaining Length 12
      0x00, 0x0B,                 // Packet Identifier 11
      0x00, 0x03, 'a', '/', '+',  // Topic Filter "a/+"
      0x00, 0x03, 'b', '/', '#',  // Topic Filter "b/#"
  };
  check_golden(mc::Unsubscribe{.packet_id = 11, .filters = {"a/+", "b/#"}, .properties = {}}, wire,
               Version::v311);
}

TEST_CASE("mqtt codec: §3.11 UNSUBACK (3.1.1)") {
  const mc::Bytes wire{0xB0, 0x02,   // UNSUBACK, Remaining Length 2
                       0x00, 0x0B};  // Packet Identifier 11, and nothing else in 3.1.1
  check_golden(mc::Unsuback{.packet_id = 11, .reason_codes = {}, .properties = {}}, wire,
               Version::v311);
}

TEST_CASE("mqtt codec: §3.12 PINGREQ (3.1.1)") {
  check_golden(mc::Pingreq{}, {0xC0, 0x00}, Version::v311);  // PINGREQ, Remaining Length 0
}

TEST_CASE("mqtt codec: §3.13 PINGRESP (3.1.1)") {
  check_golden(mc::Pingresp{}, {0xD0, 0x00}, Version::v311);  // PINGRESP, Remaining Length 0
}

TEST_CASE("mqtt codec: §3.14 DISCONNECT (3.1.1)") {
  check_golden(mc::Disconnect{}, {0xE0, 0x00}, Version::v311);  // DISCONNECT, Remaining Length 0
}

// ---- MQTT 5.0 ------------------------------------------------------------------------------

TEST_CASE("mqtt codec: §3.1 CONNECT with properties and will properties (5.0)") {
  const mc::Bytes wire{
      0x10,                               // CONNECT
      0x4D,                               // Remaining Length 77
      0x00, 0x04, 'M',  'Q',  'T',  'T',  // §3.1.2.1 Protocol Name
      0x05,                               // §3.1.2.2 Protocol Version 5
      0x86,                               // §3.1.2.3 flags: user name, will (QoS 0), clean start
      0x00, 0x1E,                         // §3.1.2.10 Keep Alive 30 s
      0x14,                               // §3.1.2.11 Property Length 20
      0x11, 0x00, 0x00, 0x0E, 0x10,       //   Session Expiry Interval 3600 s
      0x21, 0x00, 0x0A,                   //   Receive Maximum 10
      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  //   User Property "k" = "v"
      0x27, 0x00, 0x01, 0x00, 0x00,             //   Maximum Packet Size 65536
      0x00, 0x03, 'g',  'w',  '1',              // §3.1.3.1 Client Identifier "gw1"
      0x14,                                     // §3.1.3.2 Will Property Length 20
      0x01, 0x01,                               //   Payload Format Indicator 1 (UTF-8)
      0x03, 0x00, 0x0A, 't',  'e',  'x',  't', '/', 'p', 'l', 'a', 'i', 'n',  //   Content Type
      0x18, 0x00, 0x00, 0x00, 0x05,                  //   Will Delay Interval 5 s
      0x00, 0x06, 'g',  'w',  '/',  'l',  'w', 't',  // §3.1.3.3 Will Topic "gw/lwt"
      0x00, 0x04, 'g',  'o',  'n',  'e',             // §3.1.3.4 Will Payload "gone"
      0x00, 0x04, 'u',  's',  'e',  'r',             // §3.1.3.5 User Name "user"
  };
  mc::Connect connect{.version = Version::v5,
                      .clean_start = true,
                      .keep_alive = 30,
                      .client_id = "gw1",
                      .will = {},
                      .username = {},
                      .password = {},
                      .properties = {}};
  connect.properties.session_expiry_interval = 3600;
  connect.properties.receive_maximum = 10;
  connect.properties.user_properties = {{"k", "v"}};
  connect.properties.maximum_packet_size = 65536;
  mc::Will will{.topic = "gw/lwt", .payload = text("gone"), .properties = {}};
  will.properties.payload_format_indicator = 1;
  will.properties.content_type = "text/plain";
  will.properties.will_delay_interval = 5;
  connect.will = will;
  connect.username = "user";
  check_golden(connect, wire, Version::v311);  // CONNECT's own version field rules
}

TEST_CASE("mqtt codec: §3.1 CONNECT password without user name, auth method and data (5.0)") {
  const mc::Bytes wire{
      0x10,                                   // CONNECT
      0x1B,                                   // Remaining Length 27
      0x00, 0x04, 'M',  'Q',  'T', 'T',       // Protocol Name
      0x05,                                   // Protocol Version 5
      0x40,                                   // flags: password only (allowed in 5.0, §3.1.2.9)
      0x00, 0x00,                             // Keep Alive 0
      0x0B,                                   // Property Length 11
      0x15, 0x00, 0x04, 'S',  'C', 'R', 'M',  //   Authentication Method "SCRM"
      0x16, 0x00, 0x01, 0x2A,                 //   Authentication Data 2A
      0x00, 0x00,                             // Client Identifier ""
      0x00, 0x01, 0x00,                       // Password: one octet 00 (binary data may hold zeros)
  };
  mc::Connect connect{.version = Version::v5,
                      .clean_start = false,
                      .client_id = "",
                      .will = {},
                      .username = {},
                      .password = mc::Bytes{0x00},
                      .properties = {}};
  connect.properties.authentication_method = "SCRM";
  connect.properties.authentication_data = mc::Bytes{0x2A};
  check_golden(connect, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.2 CONNACK with server properties (5.0)") {
  const mc::Bytes wire{
      0x20,                                  // CONNACK
      0x17,                                  // Remaining Length 23
      0x00,                                  // §3.2.2.1 Session Present 0
      0x00,                                  // §3.2.2.2 Reason Code Success
      0x14,                                  // §3.2.2.3 Property Length 20
      0x12, 0x00, 0x04, 'a', 'u', 't', 'o',  //   Assigned Client Identifier "auto"
      0x13, 0x00, 0x3C,                      //   Server Keep Alive 60 s
      0x21, 0x00, 0x14,                      //   Receive Maximum 20
      0x22, 0x00, 0x08,                      //   Topic Alias Maximum 8
      0x24, 0x01,                            //   Maximum QoS 1
      0x25, 0x00,                            //   Retain Available 0
  };
  mc::Connack connack;
  connack.properties.assigned_client_identifier = "auto";
  connack.properties.server_keep_alive = 60;
  connack.properties.receive_maximum = 20;
  connack.properties.topic_alias_maximum = 8;
  connack.properties.maximum_qos = 1;
  connack.properties.retain_available = 0;
  check_golden(connack, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.2 CONNACK refused, not authorized, no properties (5.0)") {
  const mc::Bytes wire{
      0x20,  // CONNACK
      0x03,  // Remaining Length 3
      0x00,  // Session Present 0
      0x87,  // Reason Code 0x87 Not authorized
      0x00,  // Property Length 0 (always present in CONNACK)
  };
  check_golden(mc::Connack{.reason_code = mc::reason::not_authorized, .properties = {}}, wire,
               Version::v5);
}

TEST_CASE("mqtt codec: §3.3 PUBLISH QoS 1 with topic alias (5.0)") {
  const mc::Bytes wire{
      0x32,                          // PUBLISH, DUP 0, QoS 01, RETAIN 0
      0x14,                          // Remaining Length 20
      0x00, 0x03, 'a',  '/',  'b',   // §3.3.2.1 Topic Name "a/b"
      0x00, 0x05,                    // §3.3.2.2 Packet Identifier 5
      0x0A,                          // §3.3.2.3 Property Length 10
      0x01, 0x01,                    //   Payload Format Indicator 1
      0x02, 0x00, 0x00, 0x00, 0x3C,  //   Message Expiry Interval 60 s
      0x23, 0x00, 0x03,              //   Topic Alias 3 (sets the alias)
      'h',  'i',                     // §3.3.3 payload "hi"
  };
  mc::Publish publish{
      .topic = "a/b", .payload = text("hi"), .qos = 1, .packet_id = 5, .properties = {}};
  publish.properties.payload_format_indicator = 1;
  publish.properties.message_expiry_interval = 60;
  publish.properties.topic_alias = 3;
  check_golden(publish, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.3 PUBLISH QoS 0 with empty topic name and topic alias (5.0)") {
  const mc::Bytes wire{
      0x30,              // PUBLISH QoS 0
      0x07,              // Remaining Length 7
      0x00, 0x00,        // Topic Name "" (§3.3.2.3.4: the alias stands for it)
      0x03,              // Property Length 3
      0x23, 0x00, 0x03,  //   Topic Alias 3
      'x',               // payload "x"
  };
  mc::Publish publish{.topic = "", .payload = text("x"), .properties = {}};
  publish.properties.topic_alias = 3;
  check_golden(publish, wire, Version::v5);
}

TEST_CASE(
    "mqtt codec: §3.3 PUBLISH QoS 2 with response topic, correlation data, two subscription "
    "identifiers (5.0)") {
  const mc::Bytes wire{
      0x34,                                         // PUBLISH QoS 2
      0x1A,                                         // Remaining Length 26
      0x00, 0x03, 'a',  '/',  'b',                  // Topic Name "a/b"
      0x00, 0x06,                                   // Packet Identifier 6
      0x12,                                         // Property Length 18
      0x08, 0x00, 0x05, 'r',  'e',  'p', 'l', 'y',  //   Response Topic "reply"
      0x09, 0x00, 0x02, 0xCA, 0xFE,                 //   Correlation Data CA FE
      0x0B, 0x01,                                   //   Subscription Identifier 1
      0x0B, 0xC8, 0x01,                             //   Subscription Identifier 200 (2-octet VBI)
                                                    // payload: empty
  };
  mc::Publish publish{.topic = "a/b", .payload = {}, .qos = 2, .packet_id = 6, .properties = {}};
  publish.properties.response_topic = "reply";
  publish.properties.correlation_data = mc::Bytes{0xCA, 0xFE};
  publish.properties.subscription_identifiers = {1, 200};
  check_golden(publish, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.4 PUBACK success in the 2-octet short form (5.0)") {
  const mc::Bytes wire{0x40, 0x02,   // PUBACK, Remaining Length 2: reason 0x00, no properties
                       0x00, 0x05};  // Packet Identifier 5
  check_golden(mc::Puback{.packet_id = 5, .properties = {}}, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.4 PUBACK reason code without properties (5.0)") {
  const mc::Bytes wire{
      0x40, 0x03,  // PUBACK, Remaining Length 3: no Property Length (§3.4.2.2.1)
      0x00, 0x05,  // Packet Identifier 5
      0x10,        // Reason Code 0x10 No matching subscribers
  };
  check_golden(
      mc::Puback{
          .packet_id = 5, .reason_code = mc::reason::no_matching_subscribers, .properties = {}},
      wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.4 PUBACK with reason string (5.0)") {
  const mc::Bytes wire{
      0x40, 0x0B,                            // PUBACK, Remaining Length 11
      0x00, 0x05,                            // Packet Identifier 5
      0x97,                                  // Reason Code 0x97 Quota exceeded
      0x07,                                  // Property Length 7
      0x1F, 0x00, 0x04, 'f', 'u', 'l', 'l',  //   Reason String "full"
  };
  mc::Puback puback{.packet_id = 5, .reason_code = mc::reason::quota_exceeded, .properties = {}};
  puback.properties.reason_string = "full";
  check_golden(puback, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.4 PUBACK long forms of success decode and re-encode short (5.0)") {
  // §3.4.2.1: the reason code may be left out only when it is 0x00; sending it is also valid.
  check_decodes({0x40, 0x03, 0x00, 0x05, 0x00}, Version::v5,
                mc::Puback{.packet_id = 5, .properties = {}}, {0x40, 0x02, 0x00, 0x05});
  // A Property Length of 0 is the same as none.
  check_decodes({0x40, 0x04, 0x00, 0x05, 0x10, 0x00}, Version::v5,
                mc::Puback{.packet_id = 5, .reason_code = 0x10, .properties = {}},
                {0x40, 0x03, 0x00, 0x05, 0x10});
}

TEST_CASE("mqtt codec: §3.5 PUBREC with user property (5.0)") {
  const mc::Bytes wire{
      0x50, 0x0B,                              // PUBREC, Remaining Length 11
      0x00, 0x06,                              // Packet Identifier 6
      0x00,                                    // Reason Code Success (needed: properties follow)
      0x07,                                    // Property Length 7
      0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   User Property "k" = "v"
  };
  mc::Pubrec pubrec{.packet_id = 6, .properties = {}};
  pubrec.properties.user_properties = {{"k", "v"}};
  check_golden(pubrec, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.6 PUBREL packet identifier not found (5.0)") {
  const mc::Bytes wire{
      0x62, 0x03,  // PUBREL, flags 0010, Remaining Length 3
      0x00, 0x06,  // Packet Identifier 6
      0x92,        // Reason Code 0x92 Packet Identifier not found
  };
  check_golden(
      mc::Pubrel{.packet_id = 6, .reason_code = mc::reason::packet_id_not_found, .properties = {}},
      wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.7 PUBCOMP with reason string (5.0)") {
  const mc::Bytes wire{
      0x70, 0x09,                  // PUBCOMP, Remaining Length 9
      0x00, 0x06,                  // Packet Identifier 6
      0x00,                        // Reason Code Success
      0x05,                        // Property Length 5
      0x1F, 0x00, 0x02, 'o', 'k',  //   Reason String "ok"
  };
  mc::Pubcomp pubcomp{.packet_id = 6, .properties = {}};
  pubcomp.properties.reason_string = "ok";
  check_golden(pubcomp, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.8 SUBSCRIBE with subscription identifier and options (5.0)") {
  const mc::Bytes wire{
      0x82,                       // SUBSCRIBE, flags 0010
      0x11,                       // Remaining Length 17
      0x00, 0x0A,                 // Packet Identifier 10
      0x02,                       // §3.8.2.1 Property Length 2
      0x0B, 0x07,                 //   Subscription Identifier 7
      0x00, 0x03, 'a', '/', '+',  // Topic Filter "a/+"
      0x2D,                       // §3.8.3.1 options: Retain Handling 2, RAP, No Local, QoS 1
      0x00, 0x03, 'b', '/', '#',  // Topic Filter "b/#"
      0x10,                       // options: Retain Handling 1, QoS 0
  };
  mc::Subscribe subscribe{.packet_id = 10,
                          .subscriptions = {{.filter = "a/+",
                                             .qos = 1,
                                             .no_local = true,
                                             .retain_as_published = true,
                                             .retain_handling = 2},
                                            {.filter = "b/#", .qos = 0, .retain_handling = 1}},
                          .properties = {}};
  subscribe.properties.subscription_identifiers = {7};
  check_golden(subscribe, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.9 SUBACK with reason string (5.0)") {
  const mc::Bytes wire{
      0x90,                        // SUBACK
      0x0B,                        // Remaining Length 11
      0x00, 0x0A,                  // Packet Identifier 10
      0x05,                        // Property Length 5
      0x1F, 0x00, 0x02, 'o', 'k',  //   Reason String "ok"
      0x01,                        // Granted QoS 1
      0x00,                        // Granted QoS 0
      0xA2,                        // 0xA2 Wildcard Subscriptions not supported
  };
  mc::Suback suback{.packet_id = 10, .reason_codes = {0x01, 0x00, 0xA2}, .properties = {}};
  suback.properties.reason_string = "ok";
  check_golden(suback, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.10 UNSUBSCRIBE with user property (5.0)") {
  const mc::Bytes wire{
      0xA2,                                    // UNSUBSCRIBE, flags 0010
      0x0F,                                    // Remaining Length 15
      0x00, 0x0B,                              // Packet Identifier 11
      0x07,                                    // Property Length 7
      0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  //   User Property "k" = "v"
      0x00, 0x03, 'a',  '/', '+',              // Topic Filter "a/+"
  };
  mc::Unsubscribe unsubscribe{.packet_id = 11, .filters = {"a/+"}, .properties = {}};
  unsubscribe.properties.user_properties = {{"k", "v"}};
  check_golden(unsubscribe, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.11 UNSUBACK with reason codes (5.0)") {
  const mc::Bytes wire{
      0xB0,        // UNSUBACK
      0x05,        // Remaining Length 5
      0x00, 0x0B,  // Packet Identifier 11
      0x00,        // Property Length 0
      0x00,        // Success
      0x11,        // 0x11 No subscription existed
  };
  check_golden(mc::Unsuback{.packet_id = 11, .reason_codes = {0x00, 0x11}, .properties = {}}, wire,
               Version::v5);
}

TEST_CASE("mqtt codec: §3.12 PINGREQ (5.0)") {
  check_golden(mc::Pingreq{}, {0xC0, 0x00}, Version::v5);  // PINGREQ, Remaining Length 0
}

TEST_CASE("mqtt codec: §3.13 PINGRESP (5.0)") {
  check_golden(mc::Pingresp{}, {0xD0, 0x00}, Version::v5);  // PINGRESP, Remaining Length 0
}

TEST_CASE("mqtt codec: §3.14 DISCONNECT normal in the empty short form (5.0)") {
  check_golden(mc::Disconnect{}, {0xE0, 0x00}, Version::v5);  // Remaining Length 0: reason 0x00
}

TEST_CASE("mqtt codec: §3.14 DISCONNECT with will message, reason code only (5.0)") {
  const mc::Bytes wire{0xE0, 0x01,  // DISCONNECT, Remaining Length 1: no Property Length
                       0x04};       // Reason Code 0x04 Disconnect with Will Message
  check_golden(mc::Disconnect{.reason_code = mc::reason::disconnect_with_will, .properties = {}},
               wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.14 DISCONNECT with properties (5.0)") {
  const mc::Bytes wire{
      0xE0,                                         // DISCONNECT
      0x16,                                         // Remaining Length 22
      0x8D,                                         // Reason Code 0x8D Keep Alive timeout
      0x14,                                         // Property Length 20
      0x11, 0x00, 0x00, 0x00, 0x00,                 //   Session Expiry Interval 0
      0x1C, 0x00, 0x05, 'o',  't',  'h', 'e', 'r',  //   Server Reference "other"
      0x1F, 0x00, 0x04, 'i',  'd',  'l', 'e',       //   Reason String "idle"
  };
  mc::Disconnect disconnect{.reason_code = mc::reason::keep_alive_timeout, .properties = {}};
  disconnect.properties.session_expiry_interval = 0;
  disconnect.properties.server_reference = "other";
  disconnect.properties.reason_string = "idle";
  check_golden(disconnect, wire, Version::v5);
}

TEST_CASE("mqtt codec: §3.15 AUTH success in the empty short form (5.0)") {
  check_golden(mc::Auth{}, {0xF0, 0x00}, Version::v5);  // AUTH, Remaining Length 0: reason 0x00
}

TEST_CASE("mqtt codec: §3.15 AUTH continue authentication with method and data (5.0)") {
  const mc::Bytes wire{
      0xF0,                                          // AUTH
      0x10,                                          // Remaining Length 16
      0x18,                                          // Reason Code 0x18 Continue authentication
      0x0E,                                          // Property Length 14
      0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M',  //   Authentication Method "SCRAM"
      0x16, 0x00, 0x03, 0x01, 0x02, 0x03,            //   Authentication Data 01 02 03
  };
  mc::Auth auth{.reason_code = 0x18, .properties = {}};
  auth.properties.authentication_method = "SCRAM";
  auth.properties.authentication_data = mc::Bytes{0x01, 0x02, 0x03};
  check_golden(auth, wire, Version::v5);
}

// ---- §2.1.4 Remaining Length forms ---------------------------------------------------------

TEST_CASE("mqtt codec: §2.1.4 PUBLISH with a two-octet Remaining Length (3.1.1 and 5.0)") {
  const mc::Bytes payload(200, 0x5A);
  mc::Bytes wire311{
      0x30,        // PUBLISH QoS 0
      0xCD, 0x01,  // Remaining Length 205 = 0x4D + 128 * 1 (§1.5.5: low 7 bits first)
      0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
  };
  wire311.insert(wire311.end(), payload.begin(), payload.end());  // 200 octets of payload
  check_golden(mc::Publish{.topic = "a/b", .payload = payload, .properties = {}}, wire311,
               Version::v311);

  mc::Bytes wire5{
      0x30,                       // PUBLISH QoS 0
      0xCE, 0x01,                 // Remaining Length 206
      0x00, 0x03, 'a', '/', 'b',  // Topic Name "a/b"
      0x00,                       // Property Length 0
  };
  wire5.insert(wire5.end(), payload.begin(), payload.end());
  check_golden(mc::Publish{.topic = "a/b", .payload = payload, .properties = {}}, wire5,
               Version::v5);
}

TEST_CASE("mqtt codec: §2.1.4 encoded_size counts a four-octet Remaining Length") {
  // 2,097,152 octets of payload push the Remaining Length into four octets (§1.5.5).
  const mc::Publish publish{.topic = "t", .payload = mc::Bytes(2'097'152, 0x00), .properties = {}};
  const mc::Bytes wire = mc::encode(publish, Version::v311);
  CHECK(mc::encoded_size(publish, Version::v311) == wire.size());
  CHECK(wire.size() == 1 + 4 + 3 + 2'097'152);
  CHECK(hex(std::span(wire).first(5)) == "30 83 80 80 01");  // 2,097,155 as 4 VBI octets
  const auto decoded = mc::decode(wire, Version::v311);
  REQUIRE(decoded.has_value());
  CHECK(*decoded == mc::Packet{publish});
}
