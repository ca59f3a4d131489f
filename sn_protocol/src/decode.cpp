// Decoding untrusted frames (§5). Every read is bounds-checked against the frame; the first
// problem found is returned as a DecodeError. Nothing here throws (beyond std::bad_alloc), asserts
// or reads past the end.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <type_traits>
#include <string>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"
#include "sn_protocol/topic.hpp"

namespace sn {
namespace {

using Span = std::span<const std::uint8_t>;

// The variable part of one message, consumed front to back.
class Reader {
 public:
  explicit Reader(Span body) : body_(body) {}
  std::size_t remaining() const { return body_.size() - pos_; }
  std::uint8_t u8() { return body_[pos_++]; }
  std::uint16_t u16() {
    const auto value = static_cast<std::uint16_t>((body_[pos_] << 8) | body_[pos_ + 1]);
    pos_ += 2;
    return value;
  }
  Span rest() {
    Span r = body_.subspan(pos_);
    pos_ = body_.size();
    return r;
  }

 private:
  Span body_;
  std::size_t pos_ = 0;
};

// §5.3.4 Table 4.
struct Flags {
  bool dup;
  QoS qos;
  bool retain;
  bool will;
  bool clean_session;
  std::uint8_t topic_id_type;  // raw: 0b11 is reserved
};

Flags parse_flags(std::uint8_t octet) {
  return Flags{
      .dup = (octet & 0x80U) != 0,
      .qos = static_cast<QoS>((octet >> 5) & 0x03U),
      .retain = (octet & 0x10U) != 0,
      .will = (octet & 0x08U) != 0,
      .clean_session = (octet & 0x04U) != 0,
      .topic_id_type = static_cast<std::uint8_t>(octet & 0x03U),
  };
}

bool valid_topic_id_type(const Flags& flags) { return flags.topic_id_type != 0x03; }

std::string to_text(Span bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

bool valid_return_code(std::uint8_t code) { return code <= 0x03; }

// A string field (§5.3.12: topic names are UTF-8; client ids are treated alike). Returns the
// error, or nothing when the field is fine.
std::optional<DecodeError> read_text(Span bytes, std::string& out, bool allow_empty) {
  if (bytes.empty() && !allow_empty) return DecodeError::empty_field;
  out = to_text(bytes);
  if (!is_valid_utf8(out)) return DecodeError::invalid_utf8;
  return std::nullopt;
}

// A message whose variable part is only a ReturnCode (CONNACK, WILLTOPICRESP, WILLMSGRESP).
template <typename T>
Result<Message> return_code_only(Reader& r) {
  if (r.remaining() != 1) return DecodeError::bad_size;
  const std::uint8_t code = r.u8();
  if (!valid_return_code(code)) return DecodeError::reserved_return_code;
  return Message{T{static_cast<ReturnCode>(code)}};
}

// A message whose variable part is only a MsgId (PUBREC, PUBREL, PUBCOMP, UNSUBACK).
template <typename T>
Result<Message> msg_id_only(Reader& r) {
  if (r.remaining() != 2) return DecodeError::bad_size;
  return Message{T{r.u16()}};
}

// REGACK (§5.4.11) and PUBACK (§5.4.13): TopicId, MsgId, ReturnCode.
template <typename T>
Result<Message> topic_msg_id_code(Reader& r) {
  if (r.remaining() != 5) return DecodeError::bad_size;
  T m;
  m.topic_id = r.u16();
  m.msg_id = r.u16();
  const std::uint8_t code = r.u8();
  if (!valid_return_code(code)) return DecodeError::reserved_return_code;
  m.return_code = static_cast<ReturnCode>(code);
  return Message{m};
}

template <typename T>
Result<Message> empty_body(const Reader& r) {
  if (r.remaining() != 0) return DecodeError::bad_size;
  return Message{T{}};
}

// WILLTOPIC (§5.4.7) and WILLTOPICUPD (§5.4.22) share a layout. Length 2 is the empty one. A
// WILLTOPIC of Flags with no topic octets is read the same way; a WILLTOPICUPD like that is
// malformed: it must not delete the will its sender meant to change.
template <typename T>
Result<Message> will_topic(Reader& r) {
  T msg{};
  if (r.remaining() == 0) return Message{msg};
  if constexpr (std::is_same_v<T, WillTopicUpd>) {
    if (r.remaining() == 1) return DecodeError::empty_field;
  }
  const Flags flags = parse_flags(r.u8());
  if (flags.qos == QoS::minus_one) return DecodeError::bad_flags;
  if (auto err = read_text(r.rest(), msg.topic, true)) return *err;
  if (!msg.topic.empty()) {
    msg.qos = flags.qos;
    msg.retain = flags.retain;
  }
  return Message{std::move(msg)};
}

// The topic part of SUBSCRIBE (§5.4.15) and UNSUBSCRIBE (§5.4.17): a name for TopicIdType
// normal, exactly two octets (an id, or a short name) otherwise.
std::optional<DecodeError> subscription_topic(Reader& r, TopicIdType type, std::string& name,
                                              std::uint16_t& id) {
  if (type == TopicIdType::normal) return read_text(r.rest(), name, false);
  if (r.remaining() != 2) return DecodeError::bad_size;
  id = r.u16();
  return std::nullopt;
}

Result<Message> decode_body(std::uint8_t type, Span body) {
  Reader r(body);
  switch (static_cast<MsgType>(type)) {
    case MsgType::advertise: {
      if (r.remaining() != 3) return DecodeError::bad_size;
      Advertise m;
      m.gw_id = r.u8();
      m.duration_s = r.u16();
      return Message{m};
    }
    case MsgType::searchgw:
      if (r.remaining() != 1) return DecodeError::bad_size;
      return Message{SearchGw{r.u8()}};
    case MsgType::gwinfo: {
      if (r.remaining() < 1) return DecodeError::bad_size;
      GwInfo m;
      m.gw_id = r.u8();
      const Span address = r.rest();
      m.gw_address.assign(address.begin(), address.end());
      return Message{std::move(m)};
    }
    case MsgType::connect: {
      if (r.remaining() < 4) return DecodeError::bad_size;
      const Flags flags = parse_flags(r.u8());
      if (r.u8() != 0x01) return DecodeError::bad_protocol_id;  // §5.3.8
      Connect m;
      m.will = flags.will;
      m.clean_session = flags.clean_session;
      m.duration_s = r.u16();
      if (auto err = read_text(r.rest(), m.client_id, false)) return *err;
      return Message{std::move(m)};
    }
    case MsgType::connack: return return_code_only<ConnAck>(r);
    case MsgType::willtopicreq: return empty_body<WillTopicReq>(r);
    case MsgType::willtopic: return will_topic<WillTopic>(r);
    case MsgType::willmsgreq: return empty_body<WillMsgReq>(r);
    case MsgType::willmsg: {
      const Span message = r.rest();
      return Message{WillMsg{Bytes(message.begin(), message.end())}};
    }
    case MsgType::reg: {
      if (r.remaining() < 4) return DecodeError::bad_size;
      Register m;
      m.topic_id = r.u16();
      m.msg_id = r.u16();
      if (auto err = read_text(r.rest(), m.topic_name, false)) return *err;
      return Message{std::move(m)};
    }
    case MsgType::regack: return topic_msg_id_code<RegAck>(r);
    case MsgType::publish: {
      if (r.remaining() < 5) return DecodeError::bad_size;
      const Flags flags = parse_flags(r.u8());
      if (!valid_topic_id_type(flags)) return DecodeError::bad_flags;
      Publish m;
      m.dup = flags.dup;
      m.qos = flags.qos;
      m.retain = flags.retain;
      m.topic_id_type = static_cast<TopicIdType>(flags.topic_id_type);
      m.topic_id = r.u16();
      m.msg_id = r.u16();
      const Span data = r.rest();
      m.data.assign(data.begin(), data.end());
      return Message{std::move(m)};
    }
    case MsgType::puback: return topic_msg_id_code<PubAck>(r);
    case MsgType::pubcomp: return msg_id_only<PubComp>(r);
    case MsgType::pubrec: return msg_id_only<PubRec>(r);
    case MsgType::pubrel: return msg_id_only<PubRel>(r);
    case MsgType::subscribe: {
      if (r.remaining() < 3) return DecodeError::bad_size;
      const Flags flags = parse_flags(r.u8());
      if (!valid_topic_id_type(flags) || flags.qos == QoS::minus_one) return DecodeError::bad_flags;
      Subscribe m;
      m.dup = flags.dup;
      m.qos = flags.qos;
      m.topic_id_type = static_cast<TopicIdType>(flags.topic_id_type);
      m.msg_id = r.u16();
      if (auto err = subscription_topic(r, m.topic_id_type, m.topic_name, m.topic_id)) return *err;
      return Message{std::move(m)};
    }
    case MsgType::suback: {
      if (r.remaining() != 6) return DecodeError::bad_size;
      const Flags flags = parse_flags(r.u8());
      if (flags.qos == QoS::minus_one) return DecodeError::bad_flags;
      SubAck m;
      m.qos = flags.qos;
      m.topic_id = r.u16();
      m.msg_id = r.u16();
      const std::uint8_t code = r.u8();
      if (!valid_return_code(code)) return DecodeError::reserved_return_code;
      m.return_code = static_cast<ReturnCode>(code);
      return Message{m};
    }
    case MsgType::unsubscribe: {
      if (r.remaining() < 3) return DecodeError::bad_size;
      const Flags flags = parse_flags(r.u8());
      if (!valid_topic_id_type(flags)) return DecodeError::bad_flags;
      Unsubscribe m;
      m.topic_id_type = static_cast<TopicIdType>(flags.topic_id_type);
      m.msg_id = r.u16();
      if (auto err = subscription_topic(r, m.topic_id_type, m.topic_name, m.topic_id)) return *err;
      return Message{std::move(m)};
    }
    case MsgType::unsuback: return msg_id_only<UnsubAck>(r);
    case MsgType::pingreq: {
      PingReq m;
      if (r.remaining() > 0) {
        std::string client_id;
        if (auto err = read_text(r.rest(), client_id, false)) return *err;
        m.client_id = std::move(client_id);
      }
      return Message{std::move(m)};
    }
    case MsgType::pingresp: return empty_body<PingResp>(r);
    case MsgType::disconnect: {
      Disconnect m;
      if (r.remaining() == 2) {
        m.duration_s = r.u16();
      } else if (r.remaining() != 0) {
        return DecodeError::bad_size;
      }
      return Message{m};
    }
    case MsgType::willtopicupd: return will_topic<WillTopicUpd>(r);
    case MsgType::willtopicresp: return return_code_only<WillTopicResp>(r);
    case MsgType::willmsgupd: {
      const Span message = r.rest();
      return Message{WillMsgUpd{Bytes(message.begin(), message.end())}};
    }
    case MsgType::willmsgresp: return return_code_only<WillMsgResp>(r);
    case MsgType::encapsulated: return DecodeError::bad_encapsulation;
  }
  return DecodeError::reserved_type;
}

// §5.2.1: split a frame into MsgType and variable part, checking the Length field.
struct Header {
  std::uint8_t type;
  Span body;
};

Result<Header> split_header(Span frame) {
  if (frame.empty()) return DecodeError::truncated;
  std::size_t declared = frame[0];
  std::size_t header_size = 1;
  if (frame[0] == 0x00) return DecodeError::invalid_length;
  if (frame[0] == 0x01) {
    if (frame.size() < 3) return DecodeError::truncated;
    declared = static_cast<std::size_t>((frame[1] << 8) | frame[2]);
    header_size = 3;
    if (declared < 4) return DecodeError::invalid_length;
  }
  if (frame.size() < header_size + 1) return DecodeError::truncated;
  if (declared != frame.size()) return DecodeError::length_mismatch;
  return Header{frame[header_size], frame.subspan(header_size + 1)};
}

// §5.5: the encapsulation is recognised by MsgType 0xFE after a 1-octet Length. Its Length counts
// only the header (Length, MsgType, Ctrl, Wireless Node Id).
bool is_encapsulation(Span frame) {
  return frame.size() >= 2 && frame[0] != 0x01 && frame[1] == static_cast<std::uint8_t>(MsgType::encapsulated);
}

Result<Packet> decode_encapsulated(Span frame) {
  const std::size_t header_size = frame[0];
  if (header_size < 4 || header_size > frame.size()) return DecodeError::bad_encapsulation;
  Encapsulated packet;
  packet.radius = static_cast<std::uint8_t>(frame[2] & 0x03U);  // Table 29: bits 7..2 reserved
  const Span node_id = frame.subspan(3, header_size - 3);
  packet.node_id.assign(node_id.begin(), node_id.end());
  auto inner = decode_message(frame.subspan(header_size));
  if (!inner) return inner.error();
  packet.message = std::move(inner).value();
  return Packet{std::move(packet)};
}

}  // namespace

Result<Message> decode_message(Span frame) {
  if (is_encapsulation(frame)) return DecodeError::bad_encapsulation;
  auto header = split_header(frame);
  if (!header) return header.error();
  return decode_body(header->type, header->body);
}

Result<Packet> decode(Span frame) {
  if (is_encapsulation(frame)) return decode_encapsulated(frame);
  auto message = decode_message(frame);
  if (!message) return message.error();
  return to_packet(std::move(message).value());
}

std::optional<Refusal> refusal_of(Span frame) {
  Refusal refusal{};
  Span inner = frame;
  if (is_encapsulation(frame)) {
    const std::size_t header_size = frame[0];
    if (header_size < 4 || header_size > frame.size()) return std::nullopt;
    refusal.node_id.assign(frame.begin() + 3, frame.begin() + static_cast<std::ptrdiff_t>(header_size));
    inner = frame.subspan(header_size);
    if (is_encapsulation(inner)) return std::nullopt;
  }
  auto header = split_header(inner);
  if (!header) return std::nullopt;
  auto decoded = decode_body(header->type, header->body);
  if (decoded) return std::nullopt;
  switch (decoded.error()) {
    case DecodeError::invalid_utf8:
    case DecodeError::empty_field:
    case DecodeError::bad_flags:
    case DecodeError::bad_protocol_id: break;
    default: return std::nullopt;  // the layout itself is broken: nothing to trust
  }
  refusal.error = decoded.error();
  refusal.type = static_cast<MsgType>(header->type);
  // decode_body checked the fixed part's size before it looked at the faulty field.
  Reader r(header->body);
  switch (refusal.type) {
    case MsgType::reg:  // TopicId, MsgId, TopicName (§5.4.10)
      refusal.topic_id = r.u16();
      refusal.msg_id = r.u16();
      break;
    case MsgType::publish:  // Flags, TopicId, MsgId, Data (§5.4.12)
      refusal.flags = r.u8();
      refusal.topic_id = r.u16();
      refusal.msg_id = r.u16();
      break;
    case MsgType::subscribe:  // Flags, MsgId, TopicName or TopicId (§5.4.15, §5.4.17)
    case MsgType::unsubscribe:
      refusal.flags = r.u8();
      refusal.msg_id = r.u16();
      if (r.remaining() == 2) refusal.topic_id = r.u16();
      break;
    default: break;
  }
  return refusal;
}

std::ptrdiff_t frame_size_from_prefix(Span prefix) {
  if (prefix.empty()) return 0;
  if (prefix[0] == 0x00) return -1;
  if (prefix[0] == 0x01) {
    if (prefix.size() < 3) return 0;
    const auto declared = static_cast<std::ptrdiff_t>((prefix[1] << 8) | prefix[2]);
    return declared < 4 ? -1 : declared;
  }
  if (prefix.size() < 2) return 0;
  if (!is_encapsulation(prefix)) return prefix[0];
  // An encapsulated frame is its header plus one whole inner frame, which never nests.
  const std::size_t header_size = prefix[0];
  if (header_size < 4) return -1;
  const Span inner = prefix.subspan(std::min(header_size, prefix.size()));
  if (is_encapsulation(inner)) return -1;
  const std::ptrdiff_t inner_size = frame_size_from_prefix(inner);
  if (inner_size <= 0) return inner_size;
  return static_cast<std::ptrdiff_t>(header_size) + inner_size;
}

}  // namespace sn
