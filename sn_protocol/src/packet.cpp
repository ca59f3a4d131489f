#include "sn_protocol/packet.hpp"

#include <type_traits>

#include "sn_protocol/codec.hpp"

namespace sn {
namespace {

template <typename T>
constexpr MsgType type_of_alternative() {
  if constexpr (std::is_same_v<T, Advertise>) return MsgType::advertise;
  else if constexpr (std::is_same_v<T, SearchGw>) return MsgType::searchgw;
  else if constexpr (std::is_same_v<T, GwInfo>) return MsgType::gwinfo;
  else if constexpr (std::is_same_v<T, Connect>) return MsgType::connect;
  else if constexpr (std::is_same_v<T, ConnAck>) return MsgType::connack;
  else if constexpr (std::is_same_v<T, WillTopicReq>) return MsgType::willtopicreq;
  else if constexpr (std::is_same_v<T, WillTopic>) return MsgType::willtopic;
  else if constexpr (std::is_same_v<T, WillMsgReq>) return MsgType::willmsgreq;
  else if constexpr (std::is_same_v<T, WillMsg>) return MsgType::willmsg;
  else if constexpr (std::is_same_v<T, Register>) return MsgType::reg;
  else if constexpr (std::is_same_v<T, RegAck>) return MsgType::regack;
  else if constexpr (std::is_same_v<T, Publish>) return MsgType::publish;
  else if constexpr (std::is_same_v<T, PubAck>) return MsgType::puback;
  else if constexpr (std::is_same_v<T, PubRec>) return MsgType::pubrec;
  else if constexpr (std::is_same_v<T, PubRel>) return MsgType::pubrel;
  else if constexpr (std::is_same_v<T, PubComp>) return MsgType::pubcomp;
  else if constexpr (std::is_same_v<T, Subscribe>) return MsgType::subscribe;
  else if constexpr (std::is_same_v<T, SubAck>) return MsgType::suback;
  else if constexpr (std::is_same_v<T, Unsubscribe>) return MsgType::unsubscribe;
  else if constexpr (std::is_same_v<T, UnsubAck>) return MsgType::unsuback;
  else if constexpr (std::is_same_v<T, PingReq>) return MsgType::pingreq;
  else if constexpr (std::is_same_v<T, PingResp>) return MsgType::pingresp;
  else if constexpr (std::is_same_v<T, Disconnect>) return MsgType::disconnect;
  else if constexpr (std::is_same_v<T, WillTopicUpd>) return MsgType::willtopicupd;
  else if constexpr (std::is_same_v<T, WillTopicResp>) return MsgType::willtopicresp;
  else if constexpr (std::is_same_v<T, WillMsgUpd>) return MsgType::willmsgupd;
  else if constexpr (std::is_same_v<T, WillMsgResp>) return MsgType::willmsgresp;
  else {
    static_assert(std::is_same_v<T, Encapsulated>, "every alternative needs its MsgType");
    return MsgType::encapsulated;
  }
}

}  // namespace

MsgType type_of(const Message& message) {
  return std::visit([](const auto& m) { return type_of_alternative<std::decay_t<decltype(m)>>(); },
                    message);
}

MsgType type_of(const Packet& packet) {
  return std::visit([](const auto& p) { return type_of_alternative<std::decay_t<decltype(p)>>(); },
                    packet);
}

Packet to_packet(Message message) {
  return std::visit([](auto&& m) -> Packet { return std::forward<decltype(m)>(m); },
                    std::move(message));
}

const char* to_string(MsgType type) {
  switch (type) {
    case MsgType::advertise: return "ADVERTISE";
    case MsgType::searchgw: return "SEARCHGW";
    case MsgType::gwinfo: return "GWINFO";
    case MsgType::connect: return "CONNECT";
    case MsgType::connack: return "CONNACK";
    case MsgType::willtopicreq: return "WILLTOPICREQ";
    case MsgType::willtopic: return "WILLTOPIC";
    case MsgType::willmsgreq: return "WILLMSGREQ";
    case MsgType::willmsg: return "WILLMSG";
    case MsgType::reg: return "REGISTER";
    case MsgType::regack: return "REGACK";
    case MsgType::publish: return "PUBLISH";
    case MsgType::puback: return "PUBACK";
    case MsgType::pubcomp: return "PUBCOMP";
    case MsgType::pubrec: return "PUBREC";
    case MsgType::pubrel: return "PUBREL";
    case MsgType::subscribe: return "SUBSCRIBE";
    case MsgType::suback: return "SUBACK";
    case MsgType::unsubscribe: return "UNSUBSCRIBE";
    case MsgType::unsuback: return "UNSUBACK";
    case MsgType::pingreq: return "PINGREQ";
    case MsgType::pingresp: return "PINGRESP";
    case MsgType::disconnect: return "DISCONNECT";
    case MsgType::willtopicupd: return "WILLTOPICUPD";
    case MsgType::willtopicresp: return "WILLTOPICRESP";
    case MsgType::willmsgupd: return "WILLMSGUPD";
    case MsgType::willmsgresp: return "WILLMSGRESP";
    case MsgType::encapsulated: return "ENCAPSULATED";
  }
  return "RESERVED";
}

const char* to_string(ReturnCode code) {
  switch (code) {
    case ReturnCode::accepted: return "accepted";
    case ReturnCode::congestion: return "rejected: congestion";
    case ReturnCode::invalid_topic_id: return "rejected: invalid topic id";
    case ReturnCode::not_supported: return "rejected: not supported";
  }
  return "reserved";
}

const char* to_string(DecodeError error) {
  switch (error) {
    case DecodeError::truncated: return "truncated";
    case DecodeError::invalid_length: return "invalid length field";
    case DecodeError::length_mismatch: return "length field does not match frame size";
    case DecodeError::bad_size: return "wrong size for message type";
    case DecodeError::reserved_type: return "reserved message type";
    case DecodeError::bad_flags: return "invalid flags";
    case DecodeError::bad_protocol_id: return "unsupported protocol id";
    case DecodeError::reserved_return_code: return "reserved return code";
    case DecodeError::invalid_utf8: return "invalid UTF-8";
    case DecodeError::empty_field: return "empty field";
    case DecodeError::bad_encapsulation: return "invalid forwarder encapsulation";
  }
  return "unknown";
}

}  // namespace sn
