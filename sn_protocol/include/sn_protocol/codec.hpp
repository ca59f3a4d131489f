#pragma once
// Bytes <-> MQTT-SN messages (§5). decode() takes untrusted bytes from a radio or socket: it never
// throws, asserts or reads past the end; every problem is a DecodeError value. encode() writes our
// own messages: a message that cannot be encoded (longer than 65535 octets, a node id out of range)
// is a bug of the caller and asserts; callers that forward peer data check encoded_size() first.
// Pure functions; any thread may call them.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <variant>

#include "sn_protocol/packet.hpp"

namespace sn {

enum class DecodeError : std::uint8_t {
  truncated,             // fewer octets than the length field itself or the message header needs
  invalid_length,        // Length 0x00, or a 3-octet Length below the 4-octet header
  length_mismatch,       // declared Length differs from the frame size (§5.2.1)
  bad_size,              // the variable part is too short or too long for this message type
  reserved_type,         // MsgType reserved in Table 3
  bad_flags,             // TopicIdType 0b11, or QoS -1 where only 0..2 make sense
  bad_protocol_id,       // CONNECT ProtocolId other than 0x01 (§5.3.8)
  reserved_return_code,  // ReturnCode 0x04..0xFF (§5.3.10)
  invalid_utf8,          // a string field that is not well-formed UTF-8 or holds U+0000
  empty_field,           // a string field that must not be empty (client id, topic name)
  bad_encapsulation,     // §5.5 header inconsistent, empty node id, or nested encapsulation
};

const char* to_string(DecodeError error);

// The outcome of decode: a value or the reason there is none. Minimal on purpose (C++20 has no
// std::expected yet).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}        // NOLINT: implicit by design
  Result(DecodeError error) : v_(std::in_place_index<1>, error) {}          // NOLINT: implicit by design
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  DecodeError error() const { return std::get<1>(v_); }

 private:
  std::variant<T, DecodeError> v_;
};

// Decodes exactly one frame: the whole span must be one message (§5.2.1), possibly wrapped in the
// forwarder encapsulation (§5.5).
Result<Packet> decode(std::span<const std::uint8_t> frame);

// Decodes one plain message; an encapsulated frame is bad_encapsulation here.
Result<Message> decode_message(std::span<const std::uint8_t> frame);

// What a frame decode() refused for its content still says: its type and the ids that precede
// the faulty field, enough to answer a request (CONNACK, REGACK, SUBACK, ... "not supported",
// §5.3.10) instead of leaving its sender to retransmit into silence.
struct Refusal {
  DecodeError error = DecodeError::truncated;
  MsgType type = MsgType::connect;
  std::uint16_t msg_id = 0;    // REGISTER, PUBLISH, SUBSCRIBE, UNSUBSCRIBE
  std::uint16_t topic_id = 0;  // REGISTER, PUBLISH, SUBSCRIBE/UNSUBSCRIBE by id
  std::uint8_t flags = 0;      // PUBLISH, SUBSCRIBE, UNSUBSCRIBE: the Flags octet as sent
  Bytes node_id;               // the wireless node behind a forwarder (§5.5); empty if none
};
// Only for content errors (invalid_utf8, empty_field, bad_flags, bad_protocol_id) in a frame whose
// Length, encapsulation and fixed part are sound; nullopt for a frame that decodes, or whose layout
// is broken (those are dropped without an answer).
std::optional<Refusal> refusal_of(std::span<const std::uint8_t> frame);

// How many octets the frame at the start of `prefix` occupies, judged from its header alone, for
// stream framers (serial, RFCOMM) that cut frames out of a byte stream. Returns 0 while `prefix`
// is too short to tell (it needs the Length field and the MsgType octet, because a §5.5
// encapsulation counts only its header in its Length: its size is that header plus the Length of
// the inner frame). Returns -1 when the header is invalid (Length 0x00, a 3-octet form below 4, an
// encapsulation with an empty node id or nested in another).
std::ptrdiff_t frame_size_from_prefix(std::span<const std::uint8_t> prefix);

// Octets encode() will produce for this packet (Length field included).
std::size_t encoded_size(const Packet& packet);
std::size_t encoded_size(const Message& message);

// The largest message the 3-octet Length form can carry (§5.2.1).
inline constexpr std::size_t kMaxMessageSize = 65535;

// Encodes with the 1-octet Length form up to 255 octets and the 3-octet form above (§5.2.1).
Bytes encode(const Packet& packet);
Bytes encode(const Message& message);
// Appends the encoding to `out` (no reallocation when out has the capacity).
void encode_to(const Packet& packet, Bytes& out);
void encode_to(const Message& message, Bytes& out);

}  // namespace sn
