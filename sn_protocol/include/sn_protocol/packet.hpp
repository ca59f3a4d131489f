#pragma once
// MQTT-SN v1.2 messages as plain value types (§5.4), one struct per message type, and the
// variants over them. Pure data: no I/O, no allocation beyond the strings and byte vectors the
// messages carry. Any thread may use these types; they share nothing.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace sn {

using Bytes = std::vector<std::uint8_t>;

// §5.2.2 Table 3.
enum class MsgType : std::uint8_t {
  advertise = 0x00,
  searchgw = 0x01,
  gwinfo = 0x02,
  connect = 0x04,
  connack = 0x05,
  willtopicreq = 0x06,
  willtopic = 0x07,
  willmsgreq = 0x08,
  willmsg = 0x09,
  reg = 0x0A,  // REGISTER ("register" is a C++ keyword)
  regack = 0x0B,
  publish = 0x0C,
  puback = 0x0D,
  pubcomp = 0x0E,
  pubrec = 0x0F,
  pubrel = 0x10,
  subscribe = 0x12,
  suback = 0x13,
  unsubscribe = 0x14,
  unsuback = 0x15,
  pingreq = 0x16,
  pingresp = 0x17,
  disconnect = 0x18,
  willtopicupd = 0x1A,
  willtopicresp = 0x1B,
  willmsgupd = 0x1C,
  willmsgresp = 0x1D,
  encapsulated = 0xFE,
};

// §5.3.10 Table 5. Used on the wire and, inside the gateway, as the reason a request is refused.
enum class ReturnCode : std::uint8_t {
  accepted = 0x00,
  congestion = 0x01,
  invalid_topic_id = 0x02,
  not_supported = 0x03,
};

// §5.3.4: the two QoS bits. 0b11 is QoS -1 (publish without connection, §6.8).
enum class QoS : std::uint8_t {
  qos0 = 0,
  qos1 = 1,
  qos2 = 2,
  minus_one = 3,
};

// §5.3.4: the two TopicIdType bits; 0b11 is reserved and never decodes.
enum class TopicIdType : std::uint8_t {
  normal = 0,      // a topic id registered with REGISTER/REGACK, or a topic name in SUBSCRIBE
  predefined = 1,  // a topic id both sides know in advance
  short_name = 2,  // a two-character topic name carried in the 2-octet topic id field
};

// §5.4.1
struct Advertise {
  std::uint8_t gw_id = 0;
  std::uint16_t duration_s = 0;
  bool operator==(const Advertise&) const = default;
};

// §5.4.2
struct SearchGw {
  std::uint8_t radius = 0;
  bool operator==(const SearchGw&) const = default;
};

// §5.4.3: gw_address is present only when a client answers on behalf of a gateway.
struct GwInfo {
  std::uint8_t gw_id = 0;
  Bytes gw_address;
  bool operator==(const GwInfo&) const = default;
};

// §5.4.4. ProtocolId is always 0x01 and therefore not stored. Only the Will and CleanSession
// flags are relevant; the other flag bits are ignored on decode and sent as zero.
struct Connect {
  bool will = false;
  bool clean_session = true;
  std::uint16_t duration_s = 0;  // keep-alive
  std::string client_id;
  bool operator==(const Connect&) const = default;
};

// §5.4.5
struct ConnAck {
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const ConnAck&) const = default;
};

// §5.4.6
struct WillTopicReq {
  bool operator==(const WillTopicReq&) const = default;
};

// §5.4.7. An empty topic is the "empty WILLTOPIC" (Length 2, no Flags) that means no will (§6.3);
// it always encodes without the Flags octet, so qos/retain are zero then.
struct WillTopic {
  QoS qos = QoS::qos0;
  bool retain = false;
  std::string topic;
  bool operator==(const WillTopic&) const = default;
};

// §5.4.8
struct WillMsgReq {
  bool operator==(const WillMsgReq&) const = default;
};

// §5.4.9. The will message may be empty.
struct WillMsg {
  Bytes message;
  bool operator==(const WillMsg&) const = default;
};

// §5.4.10. topic_id is 0x0000 when sent by a client.
struct Register {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  std::string topic_name;
  bool operator==(const Register&) const = default;
};

// §5.4.11
struct RegAck {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const RegAck&) const = default;
};

// §5.4.12. For short topic names the two characters sit in topic_id, first one in the high byte
// (see short_topic_id() in topic.hpp).
struct Publish {
  bool dup = false;
  QoS qos = QoS::qos0;
  bool retain = false;
  TopicIdType topic_id_type = TopicIdType::normal;
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  Bytes data;
  bool operator==(const Publish&) const = default;
};

// §5.4.13
struct PubAck {
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const PubAck&) const = default;
};

// §5.4.14
struct PubRec {
  std::uint16_t msg_id = 0;
  bool operator==(const PubRec&) const = default;
};
struct PubRel {
  std::uint16_t msg_id = 0;
  bool operator==(const PubRel&) const = default;
};
struct PubComp {
  std::uint16_t msg_id = 0;
  bool operator==(const PubComp&) const = default;
};

// §5.4.15. With TopicIdType normal the message carries topic_name (a filter, wildcards allowed)
// and topic_id is 0; with predefined or short_name it carries topic_id and topic_name is empty.
struct Subscribe {
  bool dup = false;
  QoS qos = QoS::qos0;
  TopicIdType topic_id_type = TopicIdType::normal;
  std::uint16_t msg_id = 0;
  std::string topic_name;
  std::uint16_t topic_id = 0;
  bool operator==(const Subscribe&) const = default;
};

// §5.4.16. qos is the granted QoS.
struct SubAck {
  QoS qos = QoS::qos0;
  std::uint16_t topic_id = 0;
  std::uint16_t msg_id = 0;
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const SubAck&) const = default;
};

// §5.4.17. Same topic rules as Subscribe.
struct Unsubscribe {
  TopicIdType topic_id_type = TopicIdType::normal;
  std::uint16_t msg_id = 0;
  std::string topic_name;
  std::uint16_t topic_id = 0;
  bool operator==(const Unsubscribe&) const = default;
};

// §5.4.18
struct UnsubAck {
  std::uint16_t msg_id = 0;
  bool operator==(const UnsubAck&) const = default;
};

// §5.4.19. The client id is present only when a sleeping client wakes up (§6.14).
struct PingReq {
  std::optional<std::string> client_id;
  bool operator==(const PingReq&) const = default;
};

// §5.4.20
struct PingResp {
  bool operator==(const PingResp&) const = default;
};

// §5.4.21. A duration means "going to sleep" (§6.14).
struct Disconnect {
  std::optional<std::uint16_t> duration_s;
  bool operator==(const Disconnect&) const = default;
};

// §5.4.22. An empty topic (Length 2, no Flags) deletes the will (§6.4).
struct WillTopicUpd {
  QoS qos = QoS::qos0;
  bool retain = false;
  std::string topic;
  bool operator==(const WillTopicUpd&) const = default;
};

// §5.4.23
struct WillTopicResp {
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const WillTopicResp&) const = default;
};

// §5.4.24
struct WillMsgUpd {
  Bytes message;
  bool operator==(const WillMsgUpd&) const = default;
};

// §5.4.25
struct WillMsgResp {
  ReturnCode return_code = ReturnCode::accepted;
  bool operator==(const WillMsgResp&) const = default;
};

// Every message a client, gateway or forwarder exchanges, except the forwarder encapsulation.
using Message = std::variant<Advertise, SearchGw, GwInfo, Connect, ConnAck, WillTopicReq, WillTopic,
                             WillMsgReq, WillMsg, Register, RegAck, Publish, PubAck, PubRec, PubRel,
                             PubComp, Subscribe, SubAck, Unsubscribe, UnsubAck, PingReq, PingResp,
                             Disconnect, WillTopicUpd, WillTopicResp, WillMsgUpd, WillMsgResp>;

// §5.5: a forwarder wraps one message of a wireless node. The encapsulation never nests.
struct Encapsulated {
  std::uint8_t radius = 0;  // Ctrl bits 1..0; the reserved bits 7..2 are sent as zero
  Bytes node_id;            // Wireless Node Id, 1..252 octets, opaque
  Message message;
  bool operator==(const Encapsulated&) const = default;
};

// What one frame on the wire decodes to: a plain message, or an encapsulated one.
using Packet = std::variant<Advertise, SearchGw, GwInfo, Connect, ConnAck, WillTopicReq, WillTopic,
                            WillMsgReq, WillMsg, Register, RegAck, Publish, PubAck, PubRec, PubRel,
                            PubComp, Subscribe, SubAck, Unsubscribe, UnsubAck, PingReq, PingResp,
                            Disconnect, WillTopicUpd, WillTopicResp, WillMsgUpd, WillMsgResp,
                            Encapsulated>;

// The wire type of a message.
MsgType type_of(const Message& message);
MsgType type_of(const Packet& packet);

// Name as the spec writes it ("PUBLISH", "WILLTOPICUPD", ...), for logs.
const char* to_string(MsgType type);
const char* to_string(ReturnCode code);

// Widen a Message into a Packet (every Message alternative is also a Packet alternative).
Packet to_packet(Message message);

}  // namespace sn
