// Encoding our own messages (§5). The gateway builds these values itself, so a value that cannot
// be encoded is a programming error and asserts (STYLE.md §2); callers relaying peer data check
// encoded_size() against kMaxMessageSize first.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>

#include "sn_protocol/codec.hpp"
#include "sn_protocol/packet.hpp"

namespace sn {
namespace {

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v & 0xFFU));
  }
  void bytes(const Bytes& b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void text(const std::string& s) { out_.insert(out_.end(), s.begin(), s.end()); }

 private:
  Bytes& out_;
};

// §5.3.4 Table 4.
struct FlagBits {
  bool dup = false;
  QoS qos = QoS::qos0;
  bool retain = false;
  bool will = false;
  bool clean_session = false;
  TopicIdType topic_id_type = TopicIdType::normal;
};

std::uint8_t flags_octet(const FlagBits& f) {
  unsigned v = 0;
  if (f.dup) v |= 0x80U;
  v |= (static_cast<unsigned>(f.qos) & 0x03U) << 5;
  if (f.retain) v |= 0x10U;
  if (f.will) v |= 0x08U;
  if (f.clean_session) v |= 0x04U;
  v |= static_cast<unsigned>(f.topic_id_type) & 0x03U;
  return static_cast<std::uint8_t>(v);
}

std::uint8_t rc(ReturnCode code) { return static_cast<std::uint8_t>(code); }

// Size of the variable part (after Length and MsgType).
std::size_t body_size(const Advertise&) { return 3; }
std::size_t body_size(const SearchGw&) { return 1; }
std::size_t body_size(const GwInfo& m) { return 1 + m.gw_address.size(); }
std::size_t body_size(const Connect& m) { return 4 + m.client_id.size(); }
std::size_t body_size(const ConnAck&) { return 1; }
std::size_t body_size(const WillTopicReq&) { return 0; }
std::size_t body_size(const WillTopic& m) { return m.topic.empty() ? 0 : 1 + m.topic.size(); }
std::size_t body_size(const WillMsgReq&) { return 0; }
std::size_t body_size(const WillMsg& m) { return m.message.size(); }
std::size_t body_size(const Register& m) { return 4 + m.topic_name.size(); }
std::size_t body_size(const RegAck&) { return 5; }
std::size_t body_size(const Publish& m) { return 5 + m.data.size(); }
std::size_t body_size(const PubAck&) { return 5; }
std::size_t body_size(const PubRec&) { return 2; }
std::size_t body_size(const PubRel&) { return 2; }
std::size_t body_size(const PubComp&) { return 2; }
std::size_t body_size(const Subscribe& m) {
  return 3 + (m.topic_id_type == TopicIdType::normal ? m.topic_name.size() : 2);
}
std::size_t body_size(const SubAck&) { return 6; }
std::size_t body_size(const Unsubscribe& m) {
  return 3 + (m.topic_id_type == TopicIdType::normal ? m.topic_name.size() : 2);
}
std::size_t body_size(const UnsubAck&) { return 2; }
std::size_t body_size(const PingReq& m) { return m.client_id ? m.client_id->size() : 0; }
std::size_t body_size(const PingResp&) { return 0; }
std::size_t body_size(const Disconnect& m) { return m.duration_s ? 2 : 0; }
std::size_t body_size(const WillTopicUpd& m) { return m.topic.empty() ? 0 : 1 + m.topic.size(); }
std::size_t body_size(const WillTopicResp&) { return 1; }
std::size_t body_size(const WillMsgUpd& m) { return m.message.size(); }
std::size_t body_size(const WillMsgResp&) { return 1; }

void write_body(Writer& w, const Advertise& m) {
  w.u8(m.gw_id);
  w.u16(m.duration_s);
}
void write_body(Writer& w, const SearchGw& m) { w.u8(m.radius); }
void write_body(Writer& w, const GwInfo& m) {
  w.u8(m.gw_id);
  w.bytes(m.gw_address);
}
void write_body(Writer& w, const Connect& m) {
  w.u8(flags_octet({.will = m.will, .clean_session = m.clean_session}));
  w.u8(0x01);  // §5.3.8 ProtocolId
  w.u16(m.duration_s);
  w.text(m.client_id);
}
void write_body(Writer& w, const ConnAck& m) { w.u8(rc(m.return_code)); }
void write_body(Writer&, const WillTopicReq&) {}
void write_body(Writer& w, const WillTopic& m) {
  if (m.topic.empty()) return;  // §6.3: the empty WILLTOPIC has no Flags either
  w.u8(flags_octet({.qos = m.qos, .retain = m.retain}));
  w.text(m.topic);
}
void write_body(Writer&, const WillMsgReq&) {}
void write_body(Writer& w, const WillMsg& m) { w.bytes(m.message); }
void write_body(Writer& w, const Register& m) {
  w.u16(m.topic_id);
  w.u16(m.msg_id);
  w.text(m.topic_name);
}
void write_body(Writer& w, const RegAck& m) {
  w.u16(m.topic_id);
  w.u16(m.msg_id);
  w.u8(rc(m.return_code));
}
void write_body(Writer& w, const Publish& m) {
  w.u8(flags_octet(
      {.dup = m.dup, .qos = m.qos, .retain = m.retain, .topic_id_type = m.topic_id_type}));
  w.u16(m.topic_id);
  w.u16(m.msg_id);
  w.bytes(m.data);
}
void write_body(Writer& w, const PubAck& m) {
  w.u16(m.topic_id);
  w.u16(m.msg_id);
  w.u8(rc(m.return_code));
}
void write_body(Writer& w, const PubRec& m) { w.u16(m.msg_id); }
void write_body(Writer& w, const PubRel& m) { w.u16(m.msg_id); }
void write_body(Writer& w, const PubComp& m) { w.u16(m.msg_id); }
void write_body(Writer& w, const Subscribe& m) {
  w.u8(flags_octet({.dup = m.dup, .qos = m.qos, .topic_id_type = m.topic_id_type}));
  w.u16(m.msg_id);
  if (m.topic_id_type == TopicIdType::normal) {
    w.text(m.topic_name);
  } else {
    w.u16(m.topic_id);
  }
}
void write_body(Writer& w, const SubAck& m) {
  w.u8(flags_octet({.qos = m.qos}));
  w.u16(m.topic_id);
  w.u16(m.msg_id);
  w.u8(rc(m.return_code));
}
void write_body(Writer& w, const Unsubscribe& m) {
  w.u8(flags_octet({.topic_id_type = m.topic_id_type}));
  w.u16(m.msg_id);
  if (m.topic_id_type == TopicIdType::normal) {
    w.text(m.topic_name);
  } else {
    w.u16(m.topic_id);
  }
}
void write_body(Writer& w, const UnsubAck& m) { w.u16(m.msg_id); }
void write_body(Writer& w, const PingReq& m) {
  if (m.client_id) w.text(*m.client_id);
}
void write_body(Writer&, const PingResp&) {}
void write_body(Writer& w, const Disconnect& m) {
  if (m.duration_s) w.u16(*m.duration_s);
}
void write_body(Writer& w, const WillTopicUpd& m) {
  if (m.topic.empty()) return;  // §6.4: the empty WILLTOPICUPD deletes the will
  w.u8(flags_octet({.qos = m.qos, .retain = m.retain}));
  w.text(m.topic);
}
void write_body(Writer& w, const WillTopicResp& m) { w.u8(rc(m.return_code)); }
void write_body(Writer& w, const WillMsgUpd& m) { w.bytes(m.message); }
void write_body(Writer& w, const WillMsgResp& m) { w.u8(rc(m.return_code)); }

// §5.2.1: the 1-octet Length form whenever the whole message fits in 255 octets.
std::size_t with_header(std::size_t body) {
  return body + 2 <= 255 ? body + 2 : body + 4;
}

[[maybe_unused]] constexpr std::size_t kMaxNodeIdSize = 255 - 3;  // §5.5: the header Length is one octet

template <typename T>
void write_message(Writer& w, const T& m, MsgType type) {
  const std::size_t total = with_header(body_size(m));
  assert(total <= kMaxMessageSize && "message too large for MQTT-SN; check encoded_size()");
  if (total <= 255) {
    w.u8(static_cast<std::uint8_t>(total));
  } else {
    w.u8(0x01);
    w.u16(static_cast<std::uint16_t>(total));
  }
  w.u8(static_cast<std::uint8_t>(type));
  write_body(w, m);
}

void write_message(Writer& w, const Message& message) {
  const MsgType type = type_of(message);
  std::visit([&](const auto& m) { write_message(w, m, type); }, message);
}

}  // namespace

std::size_t encoded_size(const Message& message) {
  return std::visit([](const auto& m) { return with_header(body_size(m)); }, message);
}

std::size_t encoded_size(const Packet& packet) {
  return std::visit(
      [](const auto& p) -> std::size_t {
        if constexpr (std::is_same_v<std::decay_t<decltype(p)>, Encapsulated>) {
          return 3 + p.node_id.size() + encoded_size(p.message);
        } else {
          return with_header(body_size(p));
        }
      },
      packet);
}

void encode_to(const Message& message, Bytes& out) {
  Writer w(out);
  write_message(w, message);
}

void encode_to(const Packet& packet, Bytes& out) {
  Writer w(out);
  const MsgType type = type_of(packet);
  std::visit(
      [&](const auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Encapsulated>) {
          assert(!p.node_id.empty() && p.node_id.size() <= kMaxNodeIdSize);
          w.u8(static_cast<std::uint8_t>(3 + p.node_id.size()));
          w.u8(static_cast<std::uint8_t>(MsgType::encapsulated));
          w.u8(static_cast<std::uint8_t>(p.radius & 0x03U));
          w.bytes(p.node_id);
          write_message(w, p.message);
        } else {
          write_message(w, p, type);
        }
      },
      packet);
}

Bytes encode(const Message& message) {
  Bytes out;
  out.reserve(encoded_size(message));
  encode_to(message, out);
  return out;
}

Bytes encode(const Packet& packet) {
  Bytes out;
  out.reserve(encoded_size(packet));
  encode_to(packet, out);
  return out;
}

}  // namespace sn
