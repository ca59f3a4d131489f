#pragma once
// What decode.cpp, decode_connect.cpp and encode.cpp share.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <variant>

#include "mqtt_codec/packet.hpp"
#include "wire.hpp"

namespace mqtt_codec::detail {

// Packet's alternatives are in fixed-header type order (5.0 §2.1.2 Table 2-1): index + 1.
template <typename T, std::size_t kIndex = 0>
constexpr PacketType type_of_alternative() {
  if constexpr (std::is_same_v<T, std::variant_alternative_t<kIndex, Packet>>) {
    return static_cast<PacketType>(kIndex + 1);
  } else {
    return type_of_alternative<T, kIndex + 1>();
  }
}
static_assert(type_of_alternative<Connect>() == PacketType::connect);
static_assert(type_of_alternative<Pubrel>() == PacketType::pubrel);
static_assert(type_of_alternative<Auth>() == PacketType::auth);

// 5.0 §4.7.3 / 3.1.1 §4.7.3: a Topic Name is at least one character (MQTT 5 lets a Topic Alias
// stand in for it, §3.3.2.3.4) and holds no wildcard (§3.3.2.1). Topic Filters are checked for
// length only: a filter the broker cannot use is its to refuse with a SUBACK code, not a
// malformed packet for us.
inline bool valid_topic_name(std::string_view topic, bool alias_present) {
  if (topic.empty()) return alias_present;
  return topic.find_first_of("+#") == std::string_view::npos;
}

// §2.2.1 (3.1.1 §2.3.1): packet identifiers are non-zero, in the packets that ask for one and in
// the acknowledgements that echo it.
inline wire::Status read_packet_id(wire::Reader& r, std::uint16_t& out) {
  if (auto e = r.u16(out)) return e;
  if (out == 0) return DecodeError::zero_packet_id;
  return std::nullopt;
}

wire::Status read_body(wire::Reader& r, Version version, Connect& out);
wire::Status read_body(wire::Reader& r, Version version, Connack& out);

}  // namespace mqtt_codec::detail
