#include "mqtt_wire.hpp"

namespace bench::mqtt {
namespace {

std::uint8_t first_byte(Type type, std::uint8_t flags) {
  return static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) | flags);
}

// §2.2.3: remaining length, 7 bits per octet, at most 4 octets.
void put_length(Bytes& out, std::size_t length) {
  do {
    auto digit = static_cast<std::uint8_t>(length % 128);
    length /= 128;
    if (length > 0) digit |= 0x80;
    out.push_back(digit);
  } while (length > 0);
}

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

// §1.5.3 UTF-8 string: two length octets, then the octets.
void put_string(Bytes& out, std::string_view s) {
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

std::uint16_t get_u16(std::span<const std::uint8_t> in) {
  return static_cast<std::uint16_t>((in[0] << 8) | in[1]);
}

}  // namespace

void encode_connect(Bytes& out, std::string_view client_id, std::uint16_t keepalive_s) {
  // §3.1.2: protocol name "MQTT", level 4, flags (clean session), keep alive; payload: client id.
  out.push_back(first_byte(Type::connect, 0));
  put_length(out, 10 + 2 + client_id.size());
  put_string(out, "MQTT");
  out.push_back(4);
  out.push_back(0x02);
  put_u16(out, keepalive_s);
  put_string(out, client_id);
}

std::size_t encode_publish(Bytes& out, std::string_view topic,
                           std::span<const std::uint8_t> payload, int qos,
                           std::uint16_t packet_id) {
  // §3.3.1: QoS in bits 2-1 of the first octet; §3.3.2: topic, then the packet id if QoS > 0.
  out.push_back(first_byte(Type::publish, static_cast<std::uint8_t>(qos << 1)));
  put_length(out, 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size());
  put_string(out, topic);
  if (qos > 0) put_u16(out, packet_id);
  const std::size_t offset = out.size();
  out.insert(out.end(), payload.begin(), payload.end());
  return offset;
}

void encode_puback(Bytes& out, std::uint16_t packet_id) {
  out.push_back(first_byte(Type::puback, 0));
  out.push_back(2);
  put_u16(out, packet_id);
}

void encode_pubrel(Bytes& out, std::uint16_t packet_id) {
  // §3.6.1: the reserved flags of PUBREL are 0010.
  out.push_back(first_byte(Type::pubrel, 0x02));
  out.push_back(2);
  put_u16(out, packet_id);
}

void encode_subscribe(Bytes& out, std::uint16_t packet_id, std::string_view filter, int qos) {
  // §3.8.1: the reserved flags of SUBSCRIBE are 0010.
  out.push_back(first_byte(Type::subscribe, 0x02));
  put_length(out, 2 + 2 + filter.size() + 1);
  put_u16(out, packet_id);
  put_string(out, filter);
  out.push_back(static_cast<std::uint8_t>(qos));
}

void encode_pingreq(Bytes& out) {
  out.push_back(first_byte(Type::pingreq, 0));
  out.push_back(0);
}

void encode_disconnect(Bytes& out) {
  out.push_back(first_byte(Type::disconnect, 0));
  out.push_back(0);
}

Framing next_packet(std::span<const std::uint8_t> in, Packet& packet, std::size_t& consumed) {
  if (in.size() < 2) return Framing::incomplete;
  std::size_t length = 0;
  std::size_t multiplier = 1;
  std::size_t i = 1;
  for (;; ++i) {
    if (i > 4) return Framing::malformed;
    if (i >= in.size()) return Framing::incomplete;
    length += (in[i] & 0x7F) * multiplier;
    multiplier *= 128;
    if ((in[i] & 0x80) == 0) break;
  }
  const std::size_t header = i + 1;
  if (in.size() - header < length) return Framing::incomplete;
  packet.type = static_cast<Type>(in[0] >> 4);
  packet.flags = static_cast<std::uint8_t>(in[0] & 0x0F);
  packet.body = in.subspan(header, length);
  consumed = header + length;
  return Framing::complete;
}

std::optional<Publish> parse_publish(const Packet& packet) {
  if (packet.type != Type::publish || packet.body.size() < 2) return std::nullopt;
  Publish p;
  p.qos = (packet.flags >> 1) & 0x03;
  if (p.qos > 2) return std::nullopt;
  const std::size_t topic_length = get_u16(packet.body);
  std::size_t at = 2 + topic_length;
  if (packet.body.size() < at + (p.qos > 0 ? 2 : 0)) return std::nullopt;
  p.topic = std::string_view(reinterpret_cast<const char*>(packet.body.data() + 2), topic_length);
  if (p.qos > 0) {
    p.packet_id = get_u16(packet.body.subspan(at));
    at += 2;
  }
  p.payload = packet.body.subspan(at);
  return p;
}

std::optional<std::uint8_t> parse_connack(const Packet& packet) {
  if (packet.type != Type::connack || packet.body.size() != 2) return std::nullopt;
  return packet.body[1];
}

std::optional<std::uint16_t> parse_packet_id(const Packet& packet) {
  if (packet.body.size() < 2) return std::nullopt;
  return get_u16(packet.body);
}

}  // namespace bench::mqtt
