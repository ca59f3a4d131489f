// Golden frames for every MQTT-SN v1.2 message (§5.4) and the forwarder encapsulation (§5.5).
// Each frame is written octet by octet as the spec's tables lay it out; each case checks that the
// bytes decode to the struct, that the struct encodes to the same bytes, and encoded_size().
// The error sibling of every message lives in test_codec_errors.cpp.

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"
#include "sn_protocol/topic.hpp"

namespace {

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

// §5.2: the MsgType octet follows a 1-octet or a 3-octet Length field.
std::uint8_t msg_type_octet(const sn::Bytes& wire) { return wire[0] == 0x01 ? wire[3] : wire[1]; }

// A plain message: decode and decode_message agree with it, and both encode overloads give `wire`.
void check_golden(const sn::Message& expected, const sn::Bytes& wire) {
  INFO("wire: ", hex(wire));
  const sn::Packet expected_packet = sn::to_packet(expected);

  const auto packet = sn::decode(wire);
  REQUIRE_MESSAGE(packet.has_value(),
                  "decode failed: ", std::string(sn::to_string(packet.error())));
  CHECK_MESSAGE(*packet == expected_packet, "decoded value re-encodes as ",
                hex(sn::encode(*packet)));

  const auto message = sn::decode_message(wire);
  REQUIRE_MESSAGE(message.has_value(),
                  "decode_message failed: ", std::string(sn::to_string(message.error())));
  CHECK(*message == expected);

  CHECK(hex(sn::encode(expected)) == hex(wire));
  CHECK(hex(sn::encode(expected_packet)) == hex(wire));
  CHECK(sn::encoded_size(expected) == wire.size());
  CHECK(sn::encoded_size(expected_packet) == wire.size());
  CHECK(static_cast<std::uint8_t>(sn::type_of(expected)) == msg_type_octet(wire));
  CHECK(sn::type_of(expected_packet) == sn::type_of(expected));
}

// An encapsulated frame (§5.5): only decode() accepts it; decode_message() refuses it.
void check_golden(const sn::Encapsulated& expected, const sn::Bytes& wire) {
  INFO("wire: ", hex(wire));
  const sn::Packet expected_packet{expected};

  const auto packet = sn::decode(wire);
  REQUIRE_MESSAGE(packet.has_value(),
                  "decode failed: ", std::string(sn::to_string(packet.error())));
  CHECK_MESSAGE(*packet == expected_packet, "decoded value re-encodes as ",
                hex(sn::encode(*packet)));

  CHECK(hex(sn::encode(expected_packet)) == hex(wire));
  CHECK(sn::encoded_size(expected_packet) == wire.size());
  CHECK(sn::type_of(expected_packet) == sn::MsgType::encapsulated);

  const auto message = sn::decode_message(wire);
  REQUIRE_FALSE(message.has_value());
  CHECK(message.error() == sn::DecodeError::bad_encapsulation);
}

}  // namespace

TEST_CASE("§5.4.1 ADVERTISE") {
  const sn::Bytes wire{
      0x05,        // Length 5
      0x00,        // MsgType ADVERTISE
      0x05,        // GwId 5
      0x03, 0x84,  // Duration 900 s
  };
  check_golden(sn::Advertise{.gw_id = 5, .duration_s = 900}, wire);
}

TEST_CASE("§5.4.2 SEARCHGW") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x01,  // MsgType SEARCHGW
      0x01,  // Radius 1
  };
  check_golden(sn::SearchGw{.radius = 1}, wire);
}

TEST_CASE("§5.4.3 GWINFO sent by a gateway has no GwAdd") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x02,  // MsgType GWINFO
      0x07,  // GwId 7
  };
  check_golden(sn::GwInfo{.gw_id = 7, .gw_address = {}}, wire);
}

TEST_CASE("§5.4.3 GWINFO sent by a client carries GwAdd") {
  const sn::Bytes wire{
      0x09,                    // Length 9
      0x02,                    // MsgType GWINFO
      0x07,                    // GwId 7
      0xC0, 0xA8, 0x01, 0x0A,  // GwAdd: opaque address octets (here IPv4 192.168.1.10 ...
      0x07, 0x5B,              //        ... and port 1883)
  };
  check_golden(sn::GwInfo{.gw_id = 7, .gw_address = {0xC0, 0xA8, 0x01, 0x0A, 0x07, 0x5B}}, wire);
}

TEST_CASE("§5.4.4 CONNECT with Will and CleanSession") {
  const sn::Bytes wire{
      0x0E,                                      // Length 14
      0x04,                                      // MsgType CONNECT
      0x0C,                                      // Flags: Will 1 (bit 3), CleanSession 1 (bit 2)
      0x01,                                      // ProtocolId 0x01 (§5.3.8)
      0x00, 0x3C,                                // Duration 60 s
      's',  'e',  'n', 's', 'o', 'r', '-', '1',  // ClientId "sensor-1"
  };
  check_golden(
      sn::Connect{.will = true, .clean_session = true, .duration_s = 60, .client_id = "sensor-1"},
      wire);
}

TEST_CASE("§5.4.4 CONNECT without Will and without CleanSession") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x04,        // MsgType CONNECT
      0x00,        // Flags: Will 0, CleanSession 0
      0x01,        // ProtocolId 0x01
      0x00, 0x00,  // Duration 0 (no keep-alive)
      'c',         // ClientId "c" (one character, the shortest allowed by §5.3.1)
  };
  check_golden(
      sn::Connect{.will = false, .clean_session = false, .duration_s = 0, .client_id = "c"}, wire);
}

TEST_CASE("§5.4.5 CONNACK accepted") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x05,  // MsgType CONNACK
      0x00,  // ReturnCode accepted
  };
  check_golden(sn::ConnAck{.return_code = sn::ReturnCode::accepted}, wire);
}

TEST_CASE("§5.4.5 CONNACK rejected congestion") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x05,  // MsgType CONNACK
      0x01,  // ReturnCode rejected: congestion
  };
  check_golden(sn::ConnAck{.return_code = sn::ReturnCode::congestion}, wire);
}

TEST_CASE("§5.4.6 WILLTOPICREQ") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x06,  // MsgType WILLTOPICREQ
  };
  check_golden(sn::WillTopicReq{}, wire);
}

TEST_CASE("§5.4.7 WILLTOPIC QoS 1 retained") {
  const sn::Bytes wire{
      0x0F,                                                         // Length 15
      0x07,                                                         // MsgType WILLTOPIC
      0x30,                                                         // Flags: QoS 01, Retain 1
      'd',  'e', 'v', '/', '1', '/', 's', 't', 'a', 't', 'u', 's',  // WillTopic "dev/1/status"
  };
  check_golden(sn::WillTopic{.qos = sn::QoS::qos1, .retain = true, .topic = "dev/1/status"}, wire);
}

TEST_CASE("§5.4.7 WILLTOPIC QoS 2 not retained") {
  const sn::Bytes wire{
      0x04,  // Length 4
      0x07,  // MsgType WILLTOPIC
      0x40,  // Flags: QoS 10, Retain 0
      'w',   // WillTopic "w"
  };
  check_golden(sn::WillTopic{.qos = sn::QoS::qos2, .retain = false, .topic = "w"}, wire);
}

TEST_CASE("§5.4.7 empty WILLTOPIC has neither Flags nor WillTopic") {
  const sn::Bytes wire{
      0x02,  // Length 2: the empty WILLTOPIC that deletes the will (§6.3, §6.4)
      0x07,  // MsgType WILLTOPIC
  };
  check_golden(sn::WillTopic{}, wire);
}

TEST_CASE("§5.4.8 WILLMSGREQ") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x08,  // MsgType WILLMSGREQ
  };
  check_golden(sn::WillMsgReq{}, wire);
}

TEST_CASE("§5.4.9 WILLMSG") {
  const sn::Bytes wire{
      0x09,                                // Length 9
      0x09,                                // MsgType WILLMSG
      'o',  'f', 'f', 'l', 'i', 'n', 'e',  // WillMsg "offline"
  };
  check_golden(sn::WillMsg{.message = {'o', 'f', 'f', 'l', 'i', 'n', 'e'}}, wire);
}

TEST_CASE("§5.4.9 WILLMSG with binary content") {
  const sn::Bytes wire{
      0x06,                    // Length 6
      0x09,                    // MsgType WILLMSG
      0x00, 0xFF, 0xC0, 0x80,  // WillMsg: opaque octets, not a string, so no UTF-8 rule applies
  };
  check_golden(sn::WillMsg{.message = {0x00, 0xFF, 0xC0, 0x80}}, wire);
}

TEST_CASE("§5.4.9 empty WILLMSG") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x09,  // MsgType WILLMSG, WillMsg empty
  };
  check_golden(sn::WillMsg{}, wire);
}

TEST_CASE("§5.4.10 REGISTER sent by a client") {
  const sn::Bytes wire{
      0x10,                                                // Length 16
      0x0A,                                                // MsgType REGISTER
      0x00, 0x00,                                          // TopicId 0x0000 (sent by a client)
      0x00, 0x01,                                          // MsgId 1
      't',  'e',  'm', 'p', '/', 'r', 'o', 'o', 'm', '1',  // TopicName "temp/room1"
  };
  check_golden(sn::Register{.topic_id = 0, .msg_id = 1, .topic_name = "temp/room1"}, wire);
}

TEST_CASE("§5.4.10 REGISTER sent by a gateway") {
  const sn::Bytes wire{
      0x09,             // Length 9
      0x0A,             // MsgType REGISTER
      0x00, 0x42,       // TopicId 0x0042 assigned by the gateway
      0x12, 0x34,       // MsgId 0x1234
      'a',  '/',  'b',  // TopicName "a/b"
  };
  check_golden(sn::Register{.topic_id = 0x0042, .msg_id = 0x1234, .topic_name = "a/b"}, wire);
}

TEST_CASE("§5.4.11 REGACK accepted") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x0B,        // MsgType REGACK
      0x00, 0x42,  // TopicId 0x0042
      0x00, 0x01,  // MsgId 1
      0x00,        // ReturnCode accepted
  };
  check_golden(sn::RegAck{.topic_id = 0x0042, .msg_id = 1, .return_code = sn::ReturnCode::accepted},
               wire);
}

TEST_CASE("§5.4.11 REGACK rejected invalid topic id") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x0B,        // MsgType REGACK
      0x00, 0x00,  // TopicId 0x0000
      0xAB, 0xCD,  // MsgId 0xABCD
      0x02,        // ReturnCode rejected: invalid topic ID
  };
  check_golden(
      sn::RegAck{.topic_id = 0, .msg_id = 0xABCD, .return_code = sn::ReturnCode::invalid_topic_id},
      wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 0 normal topic id") {
  const sn::Bytes wire{
      0x0B,                  // Length 11
      0x0C,                  // MsgType PUBLISH
      0x00,                  // Flags: DUP 0, QoS 00, Retain 0, TopicIdType 00 normal
      0x00, 0x01,            // TopicId 1
      0x00, 0x00,            // MsgId 0x0000 (QoS 0)
      '2',  '1',  '.', '5',  // Data "21.5"
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::qos0,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::normal,
                           .topic_id = 1,
                           .msg_id = 0,
                           .data = {'2', '1', '.', '5'}},
               wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 1 normal topic id") {
  const sn::Bytes wire{
      0x0A,             // Length 10
      0x0C,             // MsgType PUBLISH
      0x20,             // Flags: DUP 0, QoS 01, Retain 0, TopicIdType 00 normal
      0x00, 0x2A,       // TopicId 42
      0x12, 0x34,       // MsgId 0x1234
      'h',  'i',  '!',  // Data "hi!"
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::qos1,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::normal,
                           .topic_id = 42,
                           .msg_id = 0x1234,
                           .data = {'h', 'i', '!'}},
               wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 2 predefined topic id") {
  const sn::Bytes wire{
      0x0A,              // Length 10
      0x0C,              // MsgType PUBLISH
      0x41,              // Flags: DUP 0, QoS 10, Retain 0, TopicIdType 01 predefined
      0x00, 0x05,        // TopicId 5
      0x01, 0x02,        // MsgId 0x0102
      0x01, 0x02, 0x03,  // Data
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::qos2,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::predefined,
                           .topic_id = 5,
                           .msg_id = 0x0102,
                           .data = {0x01, 0x02, 0x03}},
               wire);
}

TEST_CASE("§5.4.12 §6.8 PUBLISH QoS -1 predefined topic id") {
  const sn::Bytes wire{
      0x09,        // Length 9
      0x0C,        // MsgType PUBLISH
      0x61,        // Flags: DUP 0, QoS 11 (-1), Retain 0, TopicIdType 01 predefined
      0x00, 0x10,  // TopicId 16
      0x00, 0x00,  // MsgId 0x0000
      'o',  'n',   // Data "on"
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::minus_one,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::predefined,
                           .topic_id = 16,
                           .msg_id = 0,
                           .data = {'o', 'n'}},
               wire);
}

TEST_CASE("§5.4.12 §6.8 PUBLISH QoS -1 short topic name") {
  const sn::Bytes wire{
      0x08,        // Length 8
      0x0C,        // MsgType PUBLISH
      0x62,        // Flags: DUP 0, QoS 11 (-1), Retain 0, TopicIdType 10 short name
      't',  '1',   // TopicId: short topic name "t1"
      0x00, 0x00,  // MsgId 0x0000
      'x',         // Data "x"
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::minus_one,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::short_name,
                           .topic_id = sn::short_topic_id('t', '1'),
                           .msg_id = 0,
                           .data = {'x'}},
               wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 1 short topic name with DUP and Retain and no data") {
  const sn::Bytes wire{
      0x07,        // Length 7: no Data
      0x0C,        // MsgType PUBLISH
      0xB2,        // Flags: DUP 1, QoS 01, Retain 1, TopicIdType 10 short name
      'a',  'b',   // TopicId: short topic name "ab"
      0x00, 0x07,  // MsgId 7
  };
  check_golden(sn::Publish{.dup = true,
                           .qos = sn::QoS::qos1,
                           .retain = true,
                           .topic_id_type = sn::TopicIdType::short_name,
                           .topic_id = 0x6162,
                           .msg_id = 7,
                           .data = {}},
               wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 2 normal topic id with DUP") {
  const sn::Bytes wire{
      0x08,        // Length 8
      0x0C,        // MsgType PUBLISH
      0xC0,        // Flags: DUP 1, QoS 10, Retain 0, TopicIdType 00 normal
      0xFF, 0xFE,  // TopicId 0xFFFE
      0xFF, 0xFF,  // MsgId 0xFFFF
      0x00,        // Data: one zero octet
  };
  check_golden(sn::Publish{.dup = true,
                           .qos = sn::QoS::qos2,
                           .retain = false,
                           .topic_id_type = sn::TopicIdType::normal,
                           .topic_id = 0xFFFE,
                           .msg_id = 0xFFFF,
                           .data = {0x00}},
               wire);
}

TEST_CASE("§5.4.12 PUBLISH QoS 0 retained predefined topic id") {
  const sn::Bytes wire{
      0x09,        // Length 9
      0x0C,        // MsgType PUBLISH
      0x11,        // Flags: DUP 0, QoS 00, Retain 1, TopicIdType 01 predefined
      0x00, 0x03,  // TopicId 3
      0x00, 0x00,  // MsgId 0x0000
      'o',  'k',   // Data "ok"
  };
  check_golden(sn::Publish{.dup = false,
                           .qos = sn::QoS::qos0,
                           .retain = true,
                           .topic_id_type = sn::TopicIdType::predefined,
                           .topic_id = 3,
                           .msg_id = 0,
                           .data = {'o', 'k'}},
               wire);
}

TEST_CASE("§5.4.13 PUBACK accepted") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x0D,        // MsgType PUBACK
      0x00, 0x2A,  // TopicId 42
      0x12, 0x34,  // MsgId 0x1234
      0x00,        // ReturnCode accepted
  };
  check_golden(
      sn::PubAck{.topic_id = 42, .msg_id = 0x1234, .return_code = sn::ReturnCode::accepted}, wire);
}

TEST_CASE("§5.4.13 PUBACK rejected invalid topic id") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x0D,        // MsgType PUBACK
      0x00, 0x2A,  // TopicId 42
      0x00, 0x00,  // MsgId 0 (answer to a QoS 0 PUBLISH, §6.6)
      0x02,        // ReturnCode rejected: invalid topic ID
  };
  check_golden(
      sn::PubAck{.topic_id = 42, .msg_id = 0, .return_code = sn::ReturnCode::invalid_topic_id},
      wire);
}

TEST_CASE("§5.4.14 PUBREC") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x0F,        // MsgType PUBREC
      0x12, 0x34,  // MsgId 0x1234
  };
  check_golden(sn::PubRec{.msg_id = 0x1234}, wire);
}

TEST_CASE("§5.4.14 PUBREL") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x10,        // MsgType PUBREL
      0x12, 0x34,  // MsgId 0x1234
  };
  check_golden(sn::PubRel{.msg_id = 0x1234}, wire);
}

TEST_CASE("§5.4.14 PUBCOMP") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x0E,        // MsgType PUBCOMP
      0x12, 0x34,  // MsgId 0x1234
  };
  check_golden(sn::PubComp{.msg_id = 0x1234}, wire);
}

TEST_CASE("§5.4.15 SUBSCRIBE QoS 1 topic name") {
  const sn::Bytes wire{
      0x13,        // Length 19
      0x12,        // MsgType SUBSCRIBE
      0x20,        // Flags: DUP 0, QoS 01, TopicIdType 00 name
      0x00, 0x03,  // MsgId 3
      's',  'e',  'n', 's', 'o', 'r', 's',
      '/',  '+',  '/', 't', 'e', 'm', 'p',  // TopicName "sensors/+/temp"
  };
  check_golden(sn::Subscribe{.dup = false,
                             .qos = sn::QoS::qos1,
                             .topic_id_type = sn::TopicIdType::normal,
                             .msg_id = 3,
                             .topic_name = "sensors/+/temp",
                             .topic_id = 0},
               wire);
}

TEST_CASE("§5.4.15 SUBSCRIBE QoS 2 topic name with DUP and multi-level wildcard") {
  const sn::Bytes wire{
      0x08,             // Length 8
      0x12,             // MsgType SUBSCRIBE
      0xC0,             // Flags: DUP 1, QoS 10, TopicIdType 00 name
      0x00, 0x04,       // MsgId 4
      'a',  '/',  '#',  // TopicName "a/#"
  };
  check_golden(sn::Subscribe{.dup = true,
                             .qos = sn::QoS::qos2,
                             .topic_id_type = sn::TopicIdType::normal,
                             .msg_id = 4,
                             .topic_name = "a/#",
                             .topic_id = 0},
               wire);
}

TEST_CASE("§5.4.15 SUBSCRIBE QoS 0 predefined topic id") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x12,        // MsgType SUBSCRIBE
      0x01,        // Flags: DUP 0, QoS 00, TopicIdType 01 predefined
      0x00, 0x05,  // MsgId 5
      0x00, 0x10,  // TopicId 16
  };
  check_golden(sn::Subscribe{.dup = false,
                             .qos = sn::QoS::qos0,
                             .topic_id_type = sn::TopicIdType::predefined,
                             .msg_id = 5,
                             .topic_name = "",
                             .topic_id = 16},
               wire);
}

TEST_CASE("§5.4.15 SUBSCRIBE QoS 1 short topic name") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x12,        // MsgType SUBSCRIBE
      0x22,        // Flags: DUP 0, QoS 01, TopicIdType 10 short name
      0x00, 0x06,  // MsgId 6
      't',  '1',   // TopicId: short topic name "t1"
  };
  check_golden(sn::Subscribe{.dup = false,
                             .qos = sn::QoS::qos1,
                             .topic_id_type = sn::TopicIdType::short_name,
                             .msg_id = 6,
                             .topic_name = "",
                             .topic_id = sn::short_topic_id('t', '1')},
               wire);
}

TEST_CASE("§5.4.16 SUBACK accepted granted QoS 1") {
  const sn::Bytes wire{
      0x08,        // Length 8
      0x13,        // MsgType SUBACK
      0x20,        // Flags: granted QoS 01
      0x00, 0x2A,  // TopicId 42
      0x00, 0x03,  // MsgId 3
      0x00,        // ReturnCode accepted
  };
  check_golden(sn::SubAck{.qos = sn::QoS::qos1,
                          .topic_id = 42,
                          .msg_id = 3,
                          .return_code = sn::ReturnCode::accepted},
               wire);
}

TEST_CASE("§5.4.16 §6.9 SUBACK for a wildcard filter carries topic id 0x0000") {
  const sn::Bytes wire{
      0x08,        // Length 8
      0x13,        // MsgType SUBACK
      0x40,        // Flags: granted QoS 10
      0x00, 0x00,  // TopicId 0x0000 (wildcard subscription, §6.9)
      0x00, 0x04,  // MsgId 4
      0x00,        // ReturnCode accepted
  };
  check_golden(sn::SubAck{.qos = sn::QoS::qos2,
                          .topic_id = 0,
                          .msg_id = 4,
                          .return_code = sn::ReturnCode::accepted},
               wire);
}

TEST_CASE("§5.4.16 SUBACK rejected not supported") {
  const sn::Bytes wire{
      0x08,        // Length 8
      0x13,        // MsgType SUBACK
      0x00,        // Flags: QoS 00
      0x00, 0x00,  // TopicId 0x0000
      0x00, 0x05,  // MsgId 5
      0x03,        // ReturnCode rejected: not supported
  };
  check_golden(sn::SubAck{.qos = sn::QoS::qos0,
                          .topic_id = 0,
                          .msg_id = 5,
                          .return_code = sn::ReturnCode::not_supported},
               wire);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE topic name") {
  const sn::Bytes wire{
      0x0E,                                           // Length 14
      0x14,                                           // MsgType UNSUBSCRIBE
      0x00,                                           // Flags: TopicIdType 00 name
      0x00, 0x07,                                     // MsgId 7
      's',  'e',  'n', 's', 'o', 'r', 's', '/', '#',  // TopicName "sensors/#"
  };
  check_golden(sn::Unsubscribe{.topic_id_type = sn::TopicIdType::normal,
                               .msg_id = 7,
                               .topic_name = "sensors/#",
                               .topic_id = 0},
               wire);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE predefined topic id") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x14,        // MsgType UNSUBSCRIBE
      0x01,        // Flags: TopicIdType 01 predefined
      0x00, 0x08,  // MsgId 8
      0x00, 0x10,  // TopicId 16
  };
  check_golden(sn::Unsubscribe{.topic_id_type = sn::TopicIdType::predefined,
                               .msg_id = 8,
                               .topic_name = "",
                               .topic_id = 16},
               wire);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE short topic name") {
  const sn::Bytes wire{
      0x07,        // Length 7
      0x14,        // MsgType UNSUBSCRIBE
      0x02,        // Flags: TopicIdType 10 short name
      0x00, 0x09,  // MsgId 9
      't',  '1',   // TopicId: short topic name "t1"
  };
  check_golden(sn::Unsubscribe{.topic_id_type = sn::TopicIdType::short_name,
                               .msg_id = 9,
                               .topic_name = "",
                               .topic_id = sn::short_topic_id('t', '1')},
               wire);
}

TEST_CASE("§5.4.18 UNSUBACK") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x15,        // MsgType UNSUBACK
      0x00, 0x07,  // MsgId 7
  };
  check_golden(sn::UnsubAck{.msg_id = 7}, wire);
}

TEST_CASE("§5.4.19 PINGREQ without client id") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x16,  // MsgType PINGREQ, no ClientId
  };
  check_golden(sn::PingReq{}, wire);
}

TEST_CASE("§5.4.19 §6.14 PINGREQ with client id from an awake sleeping client") {
  const sn::Bytes wire{
      0x0A,                                     // Length 10
      0x16,                                     // MsgType PINGREQ
      's',  'e', 'n', 's', 'o', 'r', '-', '1',  // ClientId "sensor-1"
  };
  check_golden(sn::PingReq{.client_id = "sensor-1"}, wire);
}

TEST_CASE("§5.4.20 PINGRESP") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x17,  // MsgType PINGRESP
  };
  check_golden(sn::PingResp{}, wire);
}

TEST_CASE("§5.4.21 DISCONNECT without duration") {
  const sn::Bytes wire{
      0x02,  // Length 2
      0x18,  // MsgType DISCONNECT, no Duration
  };
  check_golden(sn::Disconnect{}, wire);
}

TEST_CASE("§5.4.21 §6.14 DISCONNECT with sleep duration") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x18,        // MsgType DISCONNECT
      0x0E, 0x10,  // Duration 3600 s
  };
  check_golden(sn::Disconnect{.duration_s = 3600}, wire);
}

TEST_CASE("§5.4.21 DISCONNECT with sleep duration 0") {
  const sn::Bytes wire{
      0x04,        // Length 4
      0x18,        // MsgType DISCONNECT
      0x00, 0x00,  // Duration 0: present, so distinct from no Duration
  };
  check_golden(sn::Disconnect{.duration_s = 0}, wire);
}

TEST_CASE("§5.4.22 WILLTOPICUPD QoS 0 retained") {
  const sn::Bytes wire{
      0x0C,                                          // Length 12
      0x1A,                                          // MsgType WILLTOPICUPD
      0x10,                                          // Flags: QoS 00, Retain 1
      'd',  'e', 'v', '/', '1', '/', 'l', 'w', 't',  // WillTopic "dev/1/lwt"
  };
  check_golden(sn::WillTopicUpd{.qos = sn::QoS::qos0, .retain = true, .topic = "dev/1/lwt"}, wire);
}

TEST_CASE("§5.4.22 WILLTOPICUPD QoS 2") {
  const sn::Bytes wire{
      0x06,            // Length 6
      0x1A,            // MsgType WILLTOPICUPD
      0x40,            // Flags: QoS 10, Retain 0
      'x',  '/', 'y',  // WillTopic "x/y"
  };
  check_golden(sn::WillTopicUpd{.qos = sn::QoS::qos2, .retain = false, .topic = "x/y"}, wire);
}

TEST_CASE("§5.4.22 §6.4 empty WILLTOPICUPD deletes the will") {
  const sn::Bytes wire{
      0x02,  // Length 2: no Flags, no WillTopic
      0x1A,  // MsgType WILLTOPICUPD
  };
  check_golden(sn::WillTopicUpd{}, wire);
}

TEST_CASE("§5.4.23 WILLMSGUPD") {
  const sn::Bytes wire{
      0x05,            // Length 5
      0x1C,            // MsgType WILLMSGUPD
      'b',  'y', 'e',  // WillMsg "bye"
  };
  check_golden(sn::WillMsgUpd{.message = {'b', 'y', 'e'}}, wire);
}

TEST_CASE("§5.4.24 WILLTOPICRESP accepted") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x1B,  // MsgType WILLTOPICRESP
      0x00,  // ReturnCode accepted
  };
  check_golden(sn::WillTopicResp{.return_code = sn::ReturnCode::accepted}, wire);
}

TEST_CASE("§5.4.25 WILLMSGRESP rejected not supported") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x1D,  // MsgType WILLMSGRESP
      0x03,  // ReturnCode rejected: not supported
  };
  check_golden(sn::WillMsgResp{.return_code = sn::ReturnCode::not_supported}, wire);
}

TEST_CASE("§5.4.25 WILLMSGRESP accepted") {
  const sn::Bytes wire{
      0x03,  // Length 3
      0x1D,  // MsgType WILLMSGRESP
      0x00,  // ReturnCode accepted
  };
  check_golden(sn::WillMsgResp{.return_code = sn::ReturnCode::accepted}, wire);
}

TEST_CASE("§5.5 encapsulated PUBLISH from a wireless node") {
  const sn::Bytes wire{
      0x05,             // Length 5: up to the end of the Wireless Node Id
      0xFE,             // MsgType Encapsulated message
      0x01,             // Ctrl: reserved bits 0, Radius 1
      0xAB, 0xCD,       // Wireless Node Id (2 octets, opaque)
      0x0A,             // inner Length 10
      0x0C,             // inner MsgType PUBLISH
      0x20,             // inner Flags: QoS 01, TopicIdType 00 normal
      0x00, 0x2A,       // inner TopicId 42
      0x12, 0x34,       // inner MsgId 0x1234
      'h',  'i',  '!',  // inner Data "hi!"
  };
  check_golden(sn::Encapsulated{.radius = 1,
                                .node_id = {0xAB, 0xCD},
                                .message = sn::Publish{.dup = false,
                                                       .qos = sn::QoS::qos1,
                                                       .retain = false,
                                                       .topic_id_type = sn::TopicIdType::normal,
                                                       .topic_id = 42,
                                                       .msg_id = 0x1234,
                                                       .data = {'h', 'i', '!'}}},
               wire);
}

TEST_CASE("§5.5 encapsulated CONNECT with a one-octet node id") {
  const sn::Bytes wire{
      0x04,                  // Length 4: Length, MsgType, Ctrl and a 1-octet node id
      0xFE,                  // MsgType Encapsulated message
      0x00,                  // Ctrl: Radius 0 (broadcast to all nodes)
      0x17,                  // Wireless Node Id
      0x0A,                  // inner Length 10
      0x04,                  // inner MsgType CONNECT
      0x04,                  // inner Flags: CleanSession 1
      0x01,                  // inner ProtocolId
      0x01, 0x2C,            // inner Duration 300 s
      'n',  'o',  'd', 'e',  // inner ClientId "node"
  };
  check_golden(sn::Encapsulated{.radius = 0,
                                .node_id = {0x17},
                                .message = sn::Connect{.will = false,
                                                       .clean_session = true,
                                                       .duration_s = 300,
                                                       .client_id = "node"}},
               wire);
}

TEST_CASE("§5.5 encapsulated PINGRESP with radius 3") {
  const sn::Bytes wire{
      0x06,              // Length 6
      0xFE,              // MsgType Encapsulated message
      0x03,              // Ctrl: Radius 3
      0x01, 0x02, 0x03,  // Wireless Node Id (3 octets)
      0x02,              // inner Length 2
      0x17,              // inner MsgType PINGRESP
  };
  check_golden(
      sn::Encapsulated{.radius = 3, .node_id = {0x01, 0x02, 0x03}, .message = sn::PingResp{}},
      wire);
}

TEST_CASE("§5.5 encapsulation with the longest node id fills the Length octet") {
  sn::Bytes node_id(252);
  for (std::size_t i = 0; i < node_id.size(); ++i) {
    node_id[i] = static_cast<std::uint8_t>(i);
  }
  sn::Bytes wire{
      0xFF,  // Length 255 = 3 + 252-octet node id
      0xFE,  // MsgType Encapsulated message
      0x02,  // Ctrl: Radius 2
  };
  wire.insert(wire.end(), node_id.begin(), node_id.end());  // Wireless Node Id
  wire.insert(wire.end(), {
                              0x04,        // inner Length 4
                              0x15,        // inner MsgType UNSUBACK
                              0x00, 0x07,  // inner MsgId 7
                          });
  check_golden(
      sn::Encapsulated{.radius = 2, .node_id = node_id, .message = sn::UnsubAck{.msg_id = 7}},
      wire);
}

TEST_CASE("§5.5 encapsulated message in the 3-octet Length form") {
  sn::Bytes data(291, 0x5A);
  sn::Bytes wire{
      0x04,              // Length 4
      0xFE,              // MsgType Encapsulated message
      0x01,              // Ctrl: Radius 1
      0x09,              // Wireless Node Id
      0x01, 0x01, 0x2C,  // inner Length: 3-octet form, 300
      0x0C,              // inner MsgType PUBLISH
      0x00,              // inner Flags: QoS 00, TopicIdType 00 normal
      0x00, 0x01,        // inner TopicId 1
      0x00, 0x00,        // inner MsgId 0
  };
  wire.insert(wire.end(), data.begin(), data.end());  // inner Data, 291 octets
  check_golden(
      sn::Encapsulated{
          .radius = 1, .node_id = {0x09}, .message = sn::Publish{.topic_id = 1, .data = data}},
      wire);
}

TEST_CASE("§5.2.1 encode_to appends to what the buffer already holds") {
  sn::Bytes out{0xAA, 0xBB};
  sn::encode_to(sn::Message{sn::PubRec{.msg_id = 0x0102}}, out);
  CHECK(hex(out) == "AA BB 04 0F 01 02");
  sn::encode_to(
      sn::Packet{sn::Encapsulated{.radius = 0, .node_id = {0x05}, .message = sn::PingReq{}}}, out);
  CHECK(hex(out) == "AA BB 04 0F 01 02 04 FE 00 05 02 16");
}

TEST_CASE("§5.2.2 MsgType names as the spec writes them") {
  CHECK(std::string(sn::to_string(sn::MsgType::publish)) == "PUBLISH");
  CHECK(std::string(sn::to_string(sn::MsgType::reg)) == "REGISTER");
  CHECK(std::string(sn::to_string(sn::MsgType::willtopicupd)) == "WILLTOPICUPD");
  CHECK(std::string(sn::to_string(sn::MsgType::searchgw)) == "SEARCHGW");
  CHECK(std::string(sn::to_string(sn::MsgType::pingreq)) == "PINGREQ");
}
