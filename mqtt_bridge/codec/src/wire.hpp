#pragma once
// The data representations of MQTT 5.0 §1.5 (3.1.1 §1.5): big-endian integers, the variable byte
// integer, length-prefixed UTF-8 strings and binary data. Reader consumes untrusted bytes and
// reports every problem as a DecodeError; Sink writes our own bytes, or only counts them so that
// encoded_size() and encode() share one code path and cannot disagree.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "mqtt_codec/codec.hpp"
#include "mqtt_codec/packet.hpp"

namespace mqtt_codec::wire {

using Span = std::span<const std::uint8_t>;
// Nothing when a read went well, else why it did not.
using Status = std::optional<DecodeError>;

// The largest value of a variable byte integer (MQTT 5.0 §1.5.5).
inline constexpr std::uint32_t kMaxVarint = 268'435'455;
inline constexpr std::size_t kMaxString = 65'535;

// MQTT 5.0 §1.5.4 / 3.1.1 §1.5.3: well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates
// U+D800..U+DFFF, nothing above U+10FFFF) without U+0000. The other control characters and the
// non-characters are only "SHOULD NOT" there, so they pass.
bool is_valid_utf8(std::string_view text);

// A variable byte integer at the start of `bytes`.
struct Varint {
  enum class State : std::uint8_t { ok, incomplete, malformed };
  State state = State::incomplete;
  std::uint32_t value = 0;
  std::size_t length = 0;  // octets it occupies
};
// MQTT 5.0 §1.5.5 [MQTT-1.5.5-1]: at most four octets and the fewest that can hold the value. We
// hold MQTT 3.1.1 (§2.2.3, whose algorithm only ever produces the minimal form) to the same rule:
// a frame reader does not know the version, and one canonical form keeps decode(encode(x)) simple.
Varint parse_varint(Span bytes);
std::size_t varint_size(std::uint32_t value);

class Reader {
 public:
  explicit Reader(Span bytes) : bytes_(bytes) {}
  std::size_t remaining() const { return bytes_.size() - pos_; }
  bool empty() const { return remaining() == 0; }

  Status u8(std::uint8_t& out);
  Status u16(std::uint16_t& out);
  Status u32(std::uint32_t& out);
  // A variable byte integer inside the packet; a malformed one is `malformed_error`.
  Status varint(std::uint32_t& out, DecodeError malformed_error);
  Status binary(Bytes& out);      // §1.5.6: two-octet length, then the octets
  Status utf8(std::string& out);  // §1.5.4: two-octet length, then checked UTF-8
  // The next `n` octets as their own reader (a property block).
  Status sub(std::size_t n, Reader& out);
  // Everything left (a PUBLISH payload).
  Span rest();

 private:
  Span bytes_;
  std::size_t pos_ = 0;
};

class Sink {
 public:
  // Counts only when `out` is null.
  explicit Sink(Bytes* out) : out_(out) {}
  std::size_t size() const { return size_; }

  void u8(std::uint8_t v);
  void u16(std::uint16_t v);
  void u32(std::uint32_t v);
  void varint(std::uint32_t v);
  void raw(Span bytes);
  void binary(Span bytes);
  void utf8(std::string_view text);

 private:
  Bytes* out_;
  std::size_t size_ = 0;
};

}  // namespace mqtt_codec::wire
