// The error sibling of every golden frame: truncated, over-long and reserved values, each with the
// exact DecodeError. Also the Length field forms of §5.2.1 and frame_size_from_prefix(), and the
// corner cases that crashed other gateways. decode() sees untrusted radio bytes: every case here
// must come back as a value, never a crash.

#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <vector>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"

namespace {

using sn::DecodeError;

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

// How an error reads in a failed CHECK; the number tells errors apart even if names collide.
std::string rejected(DecodeError error) {
  return "rejected " + std::to_string(static_cast<int>(error)) + " " + sn::to_string(error);
}

// One line for any decode outcome, so a failed CHECK shows what actually happened.
template <typename T>
std::string outcome(const sn::Result<T>& result) {
  if (result) {
    return "decodes to " + hex(sn::encode(*result));
  }
  return rejected(result.error());
}

// A plain (not encapsulated) frame: decode() and decode_message() both refuse it with `error`.
void check_rejected(const sn::Bytes& frame, DecodeError error) {
  INFO("frame: ", hex(frame));
  CHECK(outcome(sn::decode(frame)) == rejected(error));
  CHECK(outcome(sn::decode_message(frame)) == rejected(error));
}

// An encapsulated frame (§5.5): decode() refuses it with `error`; decode_message() refuses every
// encapsulated frame.
void check_rejected_encapsulated(const sn::Bytes& frame, DecodeError error) {
  INFO("frame: ", hex(frame));
  CHECK(outcome(sn::decode(frame)) == rejected(error));
  CHECK(outcome(sn::decode_message(frame)) == rejected(DecodeError::bad_encapsulation));
}

// Decodes `frame` to `expected`, and `expected` re-encodes to `reencoded`.
void check_decodes(const sn::Bytes& frame, const sn::Packet& expected, const sn::Bytes& reencoded) {
  INFO("frame: ", hex(frame));
  const auto packet = sn::decode(frame);
  REQUIRE_MESSAGE(packet.has_value(),
                  "decode failed: ", std::string(sn::to_string(packet.error())));
  CHECK_MESSAGE(*packet == expected, "decoded value re-encodes as ", hex(sn::encode(*packet)));
  CHECK(hex(sn::encode(expected)) == hex(reencoded));
  CHECK(sn::encoded_size(expected) == reencoded.size());
}

void check_decodes(const sn::Bytes& frame, const sn::Packet& expected) {
  check_decodes(frame, expected, frame);
}

// A 1-octet-Length frame of `type` around `body`.
sn::Bytes frame_of(sn::MsgType type, std::initializer_list<sn::Bytes> body_parts) {
  sn::Bytes body;
  for (const auto& part : body_parts) {
    body.insert(body.end(), part.begin(), part.end());
  }
  sn::Bytes frame{static_cast<std::uint8_t>(body.size() + 2), static_cast<std::uint8_t>(type)};
  frame.insert(frame.end(), body.begin(), body.end());
  return frame;
}

// Strings that are not well-formed UTF-8 or hold U+0000 (MQTT 3.1.1 §1.5.3).
const std::vector<sn::Bytes>& bad_utf8() {
  static const std::vector<sn::Bytes> kBad{
      {0xC0, 0xAF},              // overlong encoding of '/'
      {0xE0, 0x80, 0xAF},        // overlong 3-octet encoding of '/'
      {0x80},                    // lone continuation octet
      {'a', 0xBF, 'b'},          // continuation octet between ASCII characters
      {0xED, 0xA0, 0x80},        // UTF-16 surrogate U+D800
      {'a', 0x00, 'b'},          // U+0000
      {0xC3},                    // truncated 2-octet sequence
      {0xF4, 0x90, 0x80, 0x80},  // above U+10FFFF
      {0xFF},                    // never valid in UTF-8
  };
  return kBad;
}

sn::Bytes publish_frame_with_data(std::size_t data_size) {
  const sn::Bytes header{
      0x0C,        // MsgType PUBLISH
      0x20,        // Flags: QoS 01, TopicIdType 00 normal
      0x00, 0x2A,  // TopicId 42
      0x12, 0x34,  // MsgId 0x1234
  };
  const std::size_t total_1 = 1 + header.size() + data_size;
  sn::Bytes frame;
  if (total_1 <= 255) {
    frame.push_back(static_cast<std::uint8_t>(total_1));
  } else {
    const std::size_t total_3 = total_1 + 2;
    frame = {0x01, static_cast<std::uint8_t>(total_3 >> 8),
             static_cast<std::uint8_t>(total_3 & 0xFF)};
  }
  frame.insert(frame.end(), header.begin(), header.end());
  for (std::size_t i = 0; i < data_size; ++i) {
    frame.push_back(static_cast<std::uint8_t>(i));
  }
  return frame;
}

sn::Publish publish_with_data(std::size_t data_size) {
  sn::Publish publish{.qos = sn::QoS::qos1, .topic_id = 42, .msg_id = 0x1234, .data = {}};
  for (std::size_t i = 0; i < data_size; ++i) {
    publish.data.push_back(static_cast<std::uint8_t>(i));
  }
  return publish;
}

}  // namespace

// ---- §5.2.1 Length and the header -------------------------------------------------------------

TEST_CASE("§5.2.1 empty input is truncated") { check_rejected({}, DecodeError::truncated); }

TEST_CASE("§5.2.1 Length octet without MsgType is truncated") {
  check_rejected({0x05}, DecodeError::truncated);
  check_rejected({0x02}, DecodeError::truncated);
  check_rejected({0xFF}, DecodeError::truncated);
}

TEST_CASE("§5.2.1 Length 0x00 is invalid_length") {
  check_rejected({0x00, 0x16}, DecodeError::invalid_length);
  check_rejected({0x00, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00}, DecodeError::invalid_length);
}

TEST_CASE("§5.2.1 lone 0x01 announcing a 3-octet Length is truncated") {
  check_rejected({0x01}, DecodeError::truncated);
}

TEST_CASE("§5.2.1 0x01 0x00 is truncated") { check_rejected({0x01, 0x00}, DecodeError::truncated); }

TEST_CASE("§5.2.1 3-octet Length without MsgType is truncated") {
  check_rejected({0x01, 0x00, 0x04}, DecodeError::truncated);
}

TEST_CASE("§5.2.1 3-octet Length declaring 2 is invalid_length") {
  check_rejected({0x01, 0x00, 0x02, 0x16}, DecodeError::invalid_length);
}

TEST_CASE("§5.2.1 3-octet Length below the 4-octet header is invalid_length") {
  check_rejected({0x01, 0x00, 0x00, 0x16}, DecodeError::invalid_length);
  check_rejected({0x01, 0x00, 0x01, 0x16}, DecodeError::invalid_length);
  check_rejected({0x01, 0x00, 0x03, 0x16}, DecodeError::invalid_length);
}

TEST_CASE("§5.2.1 PUBLISH whose Length exceeds the datagram is length_mismatch") {
  const sn::Bytes frame{
      0x0B,        // Length 11, but only 9 octets arrived
      0x0C,        // MsgType PUBLISH
      0x00,        // Flags
      0x00, 0x01,  // TopicId 1
      0x00, 0x00,  // MsgId 0
      '2',  '1',   // Data, cut short
  };
  check_rejected(frame, DecodeError::length_mismatch);
  check_rejected({0xFF, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, 'x'}, DecodeError::length_mismatch);
}

TEST_CASE("§5.2.1 Length shorter than the datagram is length_mismatch") {
  check_rejected({0x02, 0x16, 0x00}, DecodeError::length_mismatch);
  check_rejected({0x07, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00, '2', '1', '.', '5'},
                 DecodeError::length_mismatch);
  check_rejected({0x03, 0x16}, DecodeError::length_mismatch);
}

TEST_CASE("§5.2.1 3-octet Length that differs from the datagram is length_mismatch") {
  check_rejected({0x01, 0x01, 0x2C, 0x0C, 0x00, 0x00, 0x01, 0x00, 0x00},
                 DecodeError::length_mismatch);
  check_rejected({0x01, 0x00, 0x05, 0x16}, DecodeError::length_mismatch);
  check_rejected({0x01, 0x00, 0x04, 0x16, 0x00}, DecodeError::length_mismatch);
}

TEST_CASE("§5.2.1 300-octet PUBLISH in the 3-octet form round-trips in the 3-octet form") {
  const sn::Bytes frame = publish_frame_with_data(291);
  REQUIRE(frame.size() == 300);
  CHECK(hex(std::span(frame).first(4)) == "01 01 2C 0C");  // Length 0x01 0x012C = 300, PUBLISH
  check_decodes(frame, publish_with_data(291));
}

TEST_CASE("§5.2.1 small message in the 3-octet form decodes and re-encodes in the 1-octet form") {
  check_decodes({0x01, 0x00, 0x04, 0x16}, sn::PingReq{}, {0x02, 0x16});
  check_decodes({0x01, 0x00, 0x06, 0x0F, 0x12, 0x34}, sn::PubRec{.msg_id = 0x1234},
                {0x04, 0x0F, 0x12, 0x34});
  check_decodes({0x01, 0x00, 0x05, 0x05, 0x00}, sn::ConnAck{}, {0x03, 0x05, 0x00});
}

TEST_CASE("§5.2.1 255 octets is the largest 1-octet form") {
  const sn::Bytes frame = publish_frame_with_data(248);
  REQUIRE(frame.size() == 255);
  CHECK(frame[0] == 0xFF);
  check_decodes(frame, publish_with_data(248));
}

TEST_CASE("§5.2.1 a message that would be 256 octets takes the 3-octet form") {
  // 256 octets do not fit the 1-octet Length, so the Length grows by two octets: 258 in all.
  const sn::Bytes frame = publish_frame_with_data(249);
  REQUIRE(frame.size() == 258);
  CHECK(hex(std::span(frame).first(4)) == "01 01 02 0C");
  check_decodes(frame, publish_with_data(249));
}

TEST_CASE("§5.2.1 3-octet frame of 256 octets re-encodes in the 1-octet form") {
  // Length 256 in the 3-octet form carries 253 octets after the Length: 254 with a 1-octet Length.
  sn::Bytes frame{0x01, 0x01, 0x00, 0x0C, 0x20, 0x00, 0x2A, 0x12, 0x34};
  for (std::size_t i = 0; i < 247; ++i) {
    frame.push_back(static_cast<std::uint8_t>(i));
  }
  REQUIRE(frame.size() == 256);
  check_decodes(frame, publish_with_data(247), publish_frame_with_data(247));
  CHECK(publish_frame_with_data(247).size() == 254);
}

TEST_CASE("§5.2.1 65535 octets is the largest message") {
  const sn::Bytes frame = publish_frame_with_data(65535 - 9);
  REQUIRE(frame.size() == sn::kMaxMessageSize);
  CHECK(hex(std::span(frame).first(4)) == "01 FF FF 0C");
  check_decodes(frame, publish_with_data(65535 - 9));
}

TEST_CASE("§5.2.1 frame_size_from_prefix") {
  const auto size_of = [](const sn::Bytes& prefix) { return sn::frame_size_from_prefix(prefix); };
  // Not enough octets to judge yet. A 1-octet Length also needs the MsgType after it, because an
  // encapsulated frame (§5.5, MsgType 0xFE) is longer than its Length octet says.
  CHECK(size_of({}) == 0);
  CHECK(size_of({0x01}) == 0);
  CHECK(size_of({0x01, 0x01}) == 0);
  CHECK(size_of({0x05}) == 0);
  // Invalid Length fields.
  CHECK(size_of({0x00}) == -1);
  CHECK(size_of({0x00, 0x16}) == -1);
  CHECK(size_of({0x01, 0x00, 0x00}) == -1);
  CHECK(size_of({0x01, 0x00, 0x02}) == -1);
  CHECK(size_of({0x01, 0x00, 0x03}) == -1);
  // The size, judged from the Length field.
  CHECK(size_of({0x02, 0x16}) == 2);
  CHECK(size_of({0x05, 0x0C}) == 5);
  CHECK(size_of({0x05, 0x0C, 0x00}) == 5);
  CHECK(size_of({0xFF, 0x0C}) == 255);
  CHECK(size_of({0x01, 0x00, 0x04}) == 4);
  CHECK(size_of({0x01, 0x01, 0x2C}) == 300);
  CHECK(size_of({0x01, 0x01, 0x2C, 0x0C, 0x00}) == 300);
  CHECK(size_of({0x01, 0xFF, 0xFF}) == 65535);
}

TEST_CASE("§5.5 frame_size_from_prefix of an encapsulated frame covers the inner message") {
  const auto size_of = [](const sn::Bytes& prefix) { return sn::frame_size_from_prefix(prefix); };
  CHECK(size_of({0x04, 0xFE}) == 0);  // inner Length not there yet
  CHECK(size_of({0x04, 0xFE, 0x00, 0xAA}) == 0);
  CHECK(size_of({0x04, 0xFE, 0x00, 0xAA, 0x02}) == 0);        // inner MsgType not there yet
  CHECK(size_of({0x04, 0xFE, 0x00, 0xAA, 0x02, 0x16}) == 6);  // header 4 + PINGREQ 2
  CHECK(size_of({0x05, 0xFE, 0x01, 0xAB, 0xCD, 0x01, 0x01, 0x2C}) == 305);  // header 5 + 300
  CHECK(size_of({0x03, 0xFE}) == -1);                                       // empty node id
  CHECK(size_of({0x04, 0xFE, 0x00, 0xAA, 0x00}) == -1);                     // inner Length 0x00
  CHECK(size_of({0x04, 0xFE, 0x00, 0xAA, 0x04, 0xFE}) == -1);               // nested encapsulation
}

// ---- §5.2.2 MsgType ---------------------------------------------------------------------------

TEST_CASE("§5.2.2 reserved MsgType values are reserved_type") {
  for (const std::uint8_t type :
       std::initializer_list<std::uint8_t>{0x03, 0x11, 0x19, 0x1E, 0x1F, 0x80, 0xFD, 0xFF}) {
    CAPTURE(static_cast<int>(type));
    check_rejected({0x02, type}, DecodeError::reserved_type);
    check_rejected({0x04, type, 0x00, 0x00}, DecodeError::reserved_type);
    check_rejected({0x01, 0x00, 0x04, type}, DecodeError::reserved_type);
  }
}

// ---- §5.4 one error sibling per message -------------------------------------------------------

TEST_CASE("§5.4.1 ADVERTISE with a missing or extra octet is bad_size") {
  check_rejected({0x02, 0x00}, DecodeError::bad_size);
  check_rejected({0x04, 0x00, 0x05, 0x03}, DecodeError::bad_size);
  check_rejected({0x06, 0x00, 0x05, 0x03, 0x84, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.2 SEARCHGW without Radius or with an extra octet is bad_size") {
  check_rejected({0x02, 0x01}, DecodeError::bad_size);
  check_rejected({0x04, 0x01, 0x01, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.3 GWINFO without GwId is bad_size") {
  check_rejected({0x02, 0x02}, DecodeError::bad_size);
}

TEST_CASE("§5.4.3 GWINFO GwAdd of any length decodes") {
  check_decodes({0x04, 0x02, 0x07, 0xAA}, sn::GwInfo{.gw_id = 7, .gw_address = {0xAA}});
  sn::Bytes frame{0xFF, 0x02, 0x07};
  sn::Bytes address(252, 0x33);
  frame.insert(frame.end(), address.begin(), address.end());
  check_decodes(frame, sn::GwInfo{.gw_id = 7, .gw_address = address});
}

TEST_CASE("§5.4.4 CONNECT shorter than its fixed fields is bad_size") {
  check_rejected({0x02, 0x04}, DecodeError::bad_size);
  check_rejected({0x03, 0x04, 0x04}, DecodeError::bad_size);
  check_rejected({0x05, 0x04, 0x04, 0x01, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.4 §5.3.1 CONNECT with an empty client id is empty_field") {
  check_rejected({0x06, 0x04, 0x04, 0x01, 0x00, 0x3C}, DecodeError::empty_field);
}

TEST_CASE("§5.4.4 §5.3.8 CONNECT with protocol id 0x03 is bad_protocol_id") {
  const sn::Bytes frame{
      0x0A,                  // Length 10
      0x04,                  // MsgType CONNECT
      0x04,                  // Flags: CleanSession
      0x03,                  // ProtocolId 0x03: MQTT 3.1's protocol level, reserved here
      0x00, 0x3C,            // Duration 60
      'a',  'b',  'c', 'd',  // ClientId "abcd"
  };
  check_rejected(frame, DecodeError::bad_protocol_id);
  check_rejected({0x07, 0x04, 0x04, 0x00, 0x00, 0x3C, 'a'}, DecodeError::bad_protocol_id);
  check_rejected({0x07, 0x04, 0x04, 0x02, 0x00, 0x3C, 'a'}, DecodeError::bad_protocol_id);
  check_rejected({0x07, 0x04, 0x04, 0xFF, 0x00, 0x3C, 'a'}, DecodeError::bad_protocol_id);
}

TEST_CASE("§5.4.4 CONNECT with invalid UTF-8 in the client id is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::connect, {{0x04, 0x01, 0x00, 0x3C}, bad}),
                   DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.4 CONNECT flags other than Will and CleanSession are ignored") {
  check_decodes(
      {0x07, 0x04, 0xFF, 0x01, 0x00, 0x3C, 'a'},
      sn::Connect{.will = true, .clean_session = true, .duration_s = 60, .client_id = "a"},
      {0x07, 0x04, 0x0C, 0x01, 0x00, 0x3C, 'a'});
  check_decodes(
      {0x07, 0x04, 0xF3, 0x01, 0x00, 0x3C, 'a'},
      sn::Connect{.will = false, .clean_session = false, .duration_s = 60, .client_id = "a"},
      {0x07, 0x04, 0x00, 0x01, 0x00, 0x3C, 'a'});
}

TEST_CASE("§5.4.4 §5.3.1 CONNECT client id longer than 23 octets is left to the gateway") {
  const std::string client_id(64, 'k');
  const sn::Bytes frame =
      frame_of(sn::MsgType::connect,
               {{0x04, 0x01, 0x00, 0x3C}, sn::Bytes(client_id.begin(), client_id.end())});
  check_decodes(
      frame,
      sn::Connect{.will = false, .clean_session = true, .duration_s = 60, .client_id = client_id});
}

TEST_CASE("§5.4.5 CONNACK without or with extra octets is bad_size") {
  check_rejected({0x02, 0x05}, DecodeError::bad_size);
  check_rejected({0x04, 0x05, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.5 §5.3.10 CONNACK with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x03, 0x05, 0x04}, DecodeError::reserved_return_code);
  check_rejected({0x03, 0x05, 0xFF}, DecodeError::reserved_return_code);
}

TEST_CASE("§5.4.6 WILLTOPICREQ with a body is bad_size") {
  check_rejected({0x03, 0x06, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.7 WILLTOPIC with QoS -1 is bad_flags") {
  check_rejected({0x05, 0x07, 0x60, 'a', '/'}, DecodeError::bad_flags);
  check_rejected({0x05, 0x07, 0x70, 'a', '/'}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.7 WILLTOPIC with invalid UTF-8 is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::willtopic, {{0x20}, bad}), DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.7 WILLTOPIC with Flags but no topic is the empty WILLTOPIC") {
  check_decodes({0x03, 0x07, 0x30}, sn::WillTopic{}, {0x02, 0x07});
  check_decodes({0x03, 0x07, 0x00}, sn::WillTopic{}, {0x02, 0x07});
}

TEST_CASE("§5.4.8 WILLMSGREQ with a body is bad_size") {
  check_rejected({0x03, 0x08, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.10 REGISTER shorter than its fixed fields is bad_size") {
  check_rejected({0x02, 0x0A}, DecodeError::bad_size);
  check_rejected({0x05, 0x0A, 0x00, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.10 REGISTER with an empty topic name is empty_field") {
  check_rejected({0x06, 0x0A, 0x00, 0x00, 0x00, 0x01}, DecodeError::empty_field);
}

TEST_CASE("§5.4.10 REGISTER with invalid UTF-8 in the topic name is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::reg, {{0x00, 0x00, 0x00, 0x01}, bad}),
                   DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.10 REGISTER with wildcards decodes and the gateway refuses it") {
  check_decodes({0x09, 0x0A, 0x00, 0x00, 0x00, 0x01, 'a', '/', '+'},
                sn::Register{.topic_id = 0, .msg_id = 1, .topic_name = "a/+"});
  check_decodes({0x07, 0x0A, 0x00, 0x00, 0x00, 0x01, '#'},
                sn::Register{.topic_id = 0, .msg_id = 1, .topic_name = "#"});
}

TEST_CASE("§5.4.11 REGACK with a missing or extra octet is bad_size") {
  check_rejected({0x06, 0x0B, 0x00, 0x42, 0x00, 0x01}, DecodeError::bad_size);
  check_rejected({0x08, 0x0B, 0x00, 0x42, 0x00, 0x01, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.11 REGACK with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x07, 0x0B, 0x00, 0x42, 0x00, 0x01, 0x04}, DecodeError::reserved_return_code);
  check_rejected({0x07, 0x0B, 0x00, 0x42, 0x00, 0x01, 0x80}, DecodeError::reserved_return_code);
}

TEST_CASE("§5.4.12 PUBLISH shorter than its fixed fields is bad_size") {
  check_rejected({0x02, 0x0C}, DecodeError::bad_size);
  check_rejected({0x03, 0x0C, 0x20}, DecodeError::bad_size);
  check_rejected({0x06, 0x0C, 0x20, 0x00, 0x2A, 0x12}, DecodeError::bad_size);
}

TEST_CASE("§5.4.12 §5.3.4 PUBLISH with TopicIdType 0b11 is bad_flags") {
  check_rejected({0x08, 0x0C, 0x23, 0x00, 0x2A, 0x12, 0x34, 'x'}, DecodeError::bad_flags);
  check_rejected({0x07, 0x0C, 0x63, 0x00, 0x2A, 0x00, 0x00}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.13 PUBACK with a missing or extra octet is bad_size") {
  check_rejected({0x06, 0x0D, 0x00, 0x2A, 0x12, 0x34}, DecodeError::bad_size);
  check_rejected({0x08, 0x0D, 0x00, 0x2A, 0x12, 0x34, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.13 PUBACK with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x07, 0x0D, 0x00, 0x2A, 0x12, 0x34, 0x04}, DecodeError::reserved_return_code);
}

TEST_CASE("§5.4.14 PUBREC PUBREL PUBCOMP with a missing or extra octet are bad_size") {
  for (const std::uint8_t type : std::initializer_list<std::uint8_t>{0x0F, 0x10, 0x0E}) {
    CAPTURE(static_cast<int>(type));
    check_rejected({0x02, type}, DecodeError::bad_size);
    check_rejected({0x03, type, 0x12}, DecodeError::bad_size);
    check_rejected({0x05, type, 0x12, 0x34, 0x00}, DecodeError::bad_size);
  }
}

TEST_CASE("§5.4.15 SUBSCRIBE shorter than its fixed fields is bad_size") {
  check_rejected({0x02, 0x12}, DecodeError::bad_size);
  check_rejected({0x04, 0x12, 0x20, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.15 SUBSCRIBE with an empty topic name is empty_field") {
  check_rejected({0x05, 0x12, 0x20, 0x00, 0x01}, DecodeError::empty_field);
}

TEST_CASE("§5.4.15 SUBSCRIBE with a 2-character normal topic name decodes as a name") {
  // TopicIdType 00 means a topic name whatever its length; only 01 and 10 carry a 2-octet id.
  check_decodes({0x07, 0x12, 0x20, 0x00, 0x01, 'a', 'b'},
                sn::Subscribe{.qos = sn::QoS::qos1,
                              .topic_id_type = sn::TopicIdType::normal,
                              .msg_id = 1,
                              .topic_name = "ab",
                              .topic_id = 0});
  check_decodes({0x07, 0x12, 0x20, 0x00, 0x02, 't', '1'},  // "t1" as a name, not a short id
                sn::Subscribe{.qos = sn::QoS::qos1,
                              .topic_id_type = sn::TopicIdType::normal,
                              .msg_id = 2,
                              .topic_name = "t1",
                              .topic_id = 0});
  // Read as a name, 00 10 holds U+0000; read as an id it would have been topic id 16.
  check_rejected({0x07, 0x12, 0x20, 0x00, 0x03, 0x00, 0x10}, DecodeError::invalid_utf8);
}

TEST_CASE("§5.4.15 SUBSCRIBE with QoS -1 is bad_flags") {
  check_rejected({0x07, 0x12, 0x60, 0x00, 0x01, 'a', 'b'}, DecodeError::bad_flags);
  check_rejected({0x07, 0x12, 0x61, 0x00, 0x01, 0x00, 0x10}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.15 SUBSCRIBE with TopicIdType 0b11 is bad_flags") {
  check_rejected({0x07, 0x12, 0x23, 0x00, 0x01, 0x00, 0x10}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.15 SUBSCRIBE with a predefined or short id not of 2 octets is bad_size") {
  for (const std::uint8_t flags : std::initializer_list<std::uint8_t>{0x21, 0x22}) {
    CAPTURE(static_cast<int>(flags));
    check_rejected({0x05, 0x12, flags, 0x00, 0x01}, DecodeError::bad_size);
    check_rejected({0x06, 0x12, flags, 0x00, 0x01, 0x10}, DecodeError::bad_size);
    check_rejected({0x08, 0x12, flags, 0x00, 0x01, 0x00, 0x10, 0x00}, DecodeError::bad_size);
  }
}

TEST_CASE("§5.4.15 SUBSCRIBE with invalid UTF-8 in the topic name is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::subscribe, {{0x20, 0x00, 0x01}, bad}),
                   DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.16 SUBACK with a missing or extra octet is bad_size") {
  check_rejected({0x07, 0x13, 0x20, 0x00, 0x2A, 0x00, 0x03}, DecodeError::bad_size);
  check_rejected({0x09, 0x13, 0x20, 0x00, 0x2A, 0x00, 0x03, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.16 SUBACK granting QoS -1 is bad_flags") {
  check_rejected({0x08, 0x13, 0x60, 0x00, 0x2A, 0x00, 0x03, 0x00}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.16 SUBACK with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x08, 0x13, 0x20, 0x00, 0x2A, 0x00, 0x03, 0x04},
                 DecodeError::reserved_return_code);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE shorter than its fixed fields is bad_size") {
  check_rejected({0x02, 0x14}, DecodeError::bad_size);
  check_rejected({0x04, 0x14, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE with an empty topic name is empty_field") {
  check_rejected({0x05, 0x14, 0x00, 0x00, 0x07}, DecodeError::empty_field);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE with TopicIdType 0b11 is bad_flags") {
  check_rejected({0x07, 0x14, 0x03, 0x00, 0x07, 0x00, 0x10}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.17 UNSUBSCRIBE with a predefined or short id not of 2 octets is bad_size") {
  for (const std::uint8_t flags : std::initializer_list<std::uint8_t>{0x01, 0x02}) {
    CAPTURE(static_cast<int>(flags));
    check_rejected({0x05, 0x14, flags, 0x00, 0x07}, DecodeError::bad_size);
    check_rejected({0x06, 0x14, flags, 0x00, 0x07, 0x10}, DecodeError::bad_size);
    check_rejected({0x08, 0x14, flags, 0x00, 0x07, 0x00, 0x10, 0x00}, DecodeError::bad_size);
  }
}

TEST_CASE("§5.4.17 UNSUBSCRIBE with a 2-character normal topic name decodes as a name") {
  check_decodes({0x07, 0x14, 0x00, 0x00, 0x07, 't', '1'},
                sn::Unsubscribe{.topic_id_type = sn::TopicIdType::normal,
                                .msg_id = 7,
                                .topic_name = "t1",
                                .topic_id = 0});
}

TEST_CASE("§5.4.17 UNSUBSCRIBE with invalid UTF-8 in the topic name is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::unsubscribe, {{0x00, 0x00, 0x07}, bad}),
                   DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.18 UNSUBACK with a missing or extra octet is bad_size") {
  check_rejected({0x03, 0x15, 0x00}, DecodeError::bad_size);
  check_rejected({0x05, 0x15, 0x00, 0x07, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.19 PINGREQ with invalid UTF-8 in the client id is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::pingreq, {bad}), DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.19 PINGREQ with a one-character client id decodes") {
  check_decodes({0x03, 0x16, 'z'}, sn::PingReq{.client_id = "z"});
}

TEST_CASE("§5.4.20 PINGRESP with a body is bad_size") {
  check_rejected({0x03, 0x17, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.21 DISCONNECT with a 1-octet body is bad_size") {
  check_rejected({0x03, 0x18, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.21 DISCONNECT with a 3-octet body is bad_size") {
  check_rejected({0x05, 0x18, 0x0E, 0x10, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.22 WILLTOPICUPD with QoS -1 is bad_flags") {
  check_rejected({0x05, 0x1A, 0x60, 'a', '/'}, DecodeError::bad_flags);
}

TEST_CASE("§5.4.22 WILLTOPICUPD with invalid UTF-8 is invalid_utf8") {
  for (const auto& bad : bad_utf8()) {
    check_rejected(frame_of(sn::MsgType::willtopicupd, {{0x10}, bad}), DecodeError::invalid_utf8);
  }
}

TEST_CASE("§5.4.22 WILLTOPICUPD with Flags but no topic is empty_field, not the will's deletion") {
  // Only the 2-octet WILLTOPICUPD deletes the will; Flags without a topic is malformed.
  check_rejected({0x03, 0x1A, 0x30}, DecodeError::empty_field);
  check_decodes({0x02, 0x1A}, sn::WillTopicUpd{});
}

TEST_CASE("§5.4.23 WILLMSGUPD carries any octets") {
  check_decodes({0x04, 0x1C, 0xC0, 0x80}, sn::WillMsgUpd{.message = {0xC0, 0x80}});
}

TEST_CASE("§5.4.24 WILLTOPICRESP with a missing or extra octet is bad_size") {
  check_rejected({0x02, 0x1B}, DecodeError::bad_size);
  check_rejected({0x04, 0x1B, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.24 WILLTOPICRESP with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x03, 0x1B, 0x04}, DecodeError::reserved_return_code);
}

TEST_CASE("§5.4.25 WILLMSGRESP with a missing or extra octet is bad_size") {
  check_rejected({0x02, 0x1D}, DecodeError::bad_size);
  check_rejected({0x04, 0x1D, 0x00, 0x00}, DecodeError::bad_size);
}

TEST_CASE("§5.4.25 WILLMSGRESP with reserved return code 0x04 is reserved_return_code") {
  check_rejected({0x03, 0x1D, 0x04}, DecodeError::reserved_return_code);
  check_rejected({0x03, 0x1D, 0xFF}, DecodeError::reserved_return_code);
}

// ---- §5.5 forwarder encapsulation -------------------------------------------------------------

TEST_CASE("§5.5 nested encapsulation is bad_encapsulation") {
  const sn::Bytes frame{
      0x04, 0xFE, 0x00, 0xAA,  // outer header, node id AA
      0x04, 0xFE, 0x00, 0xBB,  // inner header, node id BB: encapsulation never nests
      0x02, 0x16,              // PINGREQ
  };
  check_rejected_encapsulated(frame, DecodeError::bad_encapsulation);
}

TEST_CASE("§5.5 encapsulation with an empty node id is bad_encapsulation") {
  check_rejected_encapsulated({0x03, 0xFE, 0x00, 0x02, 0x16}, DecodeError::bad_encapsulation);
}

TEST_CASE("§5.5 encapsulation header Length below 4 is bad_encapsulation") {
  check_rejected_encapsulated({0x02, 0xFE}, DecodeError::bad_encapsulation);
  check_rejected_encapsulated({0x02, 0xFE, 0x00, 0xAA, 0x02, 0x16}, DecodeError::bad_encapsulation);
}

TEST_CASE("§5.5 encapsulation header Length beyond the frame is bad_encapsulation") {
  check_rejected_encapsulated({0x08, 0xFE, 0x00, 0xAA}, DecodeError::bad_encapsulation);
  check_rejected_encapsulated({0x09, 0xFE, 0x00, 0xAA, 0x02, 0x16}, DecodeError::bad_encapsulation);
}

TEST_CASE("§5.5 encapsulation in the 3-octet Length form is bad_encapsulation") {
  // §5.5: the encapsulation's Length is one octet; 0x01 announces a plain 3-octet frame instead.
  check_rejected({0x01, 0x00, 0x08, 0xFE, 0x00, 0xAA, 0x02, 0x16}, DecodeError::bad_encapsulation);
}

TEST_CASE("§5.5 encapsulation without an inner message reports the inner truncation") {
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA}, DecodeError::truncated);
}

TEST_CASE("§5.5 encapsulation reports the inner message error as is") {
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x02, 0x03}, DecodeError::reserved_type);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x05, 0x16}, DecodeError::length_mismatch);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x03, 0x18, 0x00}, DecodeError::bad_size);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x01, 0x00, 0x02, 0x16},
                              DecodeError::invalid_length);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x00, 0x16}, DecodeError::invalid_length);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x01, 0x00}, DecodeError::truncated);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x06, 0x04, 0x04, 0x01, 0x00, 0x3C},
                              DecodeError::empty_field);
  check_rejected_encapsulated({0x04, 0xFE, 0x00, 0xAA, 0x03, 0x05, 0x04},
                              DecodeError::reserved_return_code);
}

TEST_CASE("§5.5 Ctrl reserved bits are ignored on decode and sent as zero") {
  check_decodes({0x04, 0xFE, 0xFD, 0xAA, 0x02, 0x16},
                sn::Encapsulated{.radius = 1, .node_id = {0xAA}, .message = sn::PingReq{}},
                {0x04, 0xFE, 0x01, 0xAA, 0x02, 0x16});
}

TEST_CASE("§5.5 decode_message refuses a valid encapsulated frame") {
  const sn::Bytes frame{0x04, 0xFE, 0x00, 0xAA, 0x02, 0x16};
  CHECK(sn::decode(frame).has_value());
  CHECK(outcome(sn::decode_message(frame)) == rejected(DecodeError::bad_encapsulation));
}
