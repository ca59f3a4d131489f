#pragma once
// Bytes <-> MQTT 3.1.1 / 5.0 control packets, sans-I/O (like sn_protocol for MQTT-SN).
//
// decode() takes untrusted bytes from the broker's socket: it never throws, asserts or reads past
// the end; every problem is a DecodeError value. encode() writes our own packets: a packet that
// cannot be encoded (a string over 65535 octets, a remaining length over 268,435,455, a property
// the version cannot carry) is a bug of the caller and asserts.
// Pure functions; any thread may call them.

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <variant>

#include "mqtt_codec/packet.hpp"

namespace mqtt_codec {

enum class DecodeError : std::uint8_t {
  truncated,              // a field runs past the end of the packet
  trailing_bytes,         // octets left over after the last field
  bad_remaining_length,   // variable byte integer of more than 4 octets, or not minimal-length
  remaining_length_mismatch,  // the packet given to decode() is not exactly header + length
  reserved_type,          // packet type 0, or AUTH in MQTT 3.1.1
  bad_flags,              // fixed-header flags other than the type's (§2.1.3), QoS 3, DUP on QoS 0
  bad_protocol,           // CONNECT protocol name/level we do not speak (not "MQTT" 4 or 5)
  bad_connect_flags,      // reserved bit set, will QoS/retain without will, password w/o user (3.1.1)
  invalid_utf8,           // a UTF-8 string that is not well-formed or holds U+0000 (§1.5.4)
  zero_packet_id,         // packet id 0 where one is required (§2.2.1)
  no_topic_filters,       // SUBSCRIBE/UNSUBSCRIBE without any filter (§3.8.3, §3.10.3)
  bad_subscription_options,  // reserved bits, QoS 3, retain handling 3 (5.0 §3.8.3.1)
  bad_reason_code,        // a return/reason code this packet may not carry
  bad_property,           // unknown identifier, a value out of range, or a malformed value
  duplicate_property,     // a property that may appear once appeared twice (5.0 §2.2.2.2)
  property_not_allowed,   // a property this packet may not carry
  packet_too_large,       // over the limit given to frame_size()/decode()
  // Added with the implementation: none of the above names a Topic Name that is empty without a
  // Topic Alias or holds a wildcard, or an empty Topic Filter (§4.7.3 [MQTT-4.7.3-1], §3.3.2.1).
  bad_topic,
};

const char* to_string(DecodeError error);

// The outcome of decode: a value or the reason there is none (C++20 has no std::expected yet).
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(DecodeError error) : v_(std::in_place_index<1>, error) {}    // NOLINT: implicit by design
  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  const T& value() const& { return std::get<0>(v_); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  DecodeError error() const { return std::get<1>(v_); }

 private:
  std::variant<T, DecodeError> v_;
};

// The largest remaining length MQTT can express (§2.2.3: four octets of variable byte integer).
inline constexpr std::size_t kMaxRemainingLength = 268'435'455;

// How many octets the packet at the start of `prefix` occupies (fixed header included), for a
// reader cutting packets out of a TCP stream: 0 while `prefix` is too short to tell; an error when
// the remaining length is malformed or the whole packet would exceed `max_packet_size`.
Result<std::size_t> frame_size(std::span<const std::uint8_t> prefix,
                               std::size_t max_packet_size = kMaxRemainingLength + 5);

// Decodes exactly one packet: `packet` must be the fixed header plus exactly the remaining length.
// CONNECT carries its own version; every other packet is read as `version`.
Result<Packet> decode(std::span<const std::uint8_t> packet, Version version);

// Octets encode() will produce for this packet.
std::size_t encoded_size(const Packet& packet, Version version);

// Appends the encoding of `packet` for `version` to `out`. CONNECT is written as its own version
// field says (the `version` argument is ignored for it).
void encode_to(const Packet& packet, Version version, Bytes& out);
Bytes encode(const Packet& packet, Version version);

}  // namespace mqtt_codec
