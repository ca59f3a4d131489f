#include "wire.hpp"

#include <cassert>

namespace mqtt_codec::wire {

bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<std::uint8_t>(text[i]);
    std::size_t continuation = 0;
    std::uint32_t code_point = 0;
    std::uint32_t smallest = 0;  // below this the form is overlong
    if (lead < 0x80U) {
      code_point = lead;
    } else if ((lead & 0xE0U) == 0xC0U) {
      continuation = 1, code_point = lead & 0x1FU, smallest = 0x80;
    } else if ((lead & 0xF0U) == 0xE0U) {
      continuation = 2, code_point = lead & 0x0FU, smallest = 0x800;
    } else if ((lead & 0xF8U) == 0xF0U) {
      continuation = 3, code_point = lead & 0x07U, smallest = 0x10000;
    } else {
      return false;  // a stray continuation octet, or F8..FF
    }
    if (text.size() - i <= continuation) return false;
    for (std::size_t k = 1; k <= continuation; ++k) {
      const auto octet = static_cast<std::uint8_t>(text[i + k]);
      if ((octet & 0xC0U) != 0x80U) return false;
      code_point = (code_point << 6) | (octet & 0x3FU);
    }
    if (code_point < smallest) return false;                           // overlong
    if (code_point >= 0xD800U && code_point <= 0xDFFFU) return false;  // [MQTT-1.5.4-1]
    if (code_point > 0x10FFFFU) return false;
    if (code_point == 0) return false;  // [MQTT-1.5.4-2]
    i += continuation + 1;
  }
  return true;
}

Varint parse_varint(Span bytes) {
  Varint v;
  std::uint32_t multiplier = 1;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4) {
      v.state = Varint::State::malformed;  // a fifth octet
      return v;
    }
    const std::uint8_t octet = bytes[i];
    v.value += (octet & 0x7FU) * multiplier;
    multiplier *= 128;
    if ((octet & 0x80U) == 0) {
      v.length = i + 1;
      // A last octet of zero after others adds nothing: a longer form than needed.
      v.state = (i > 0 && octet == 0) ? Varint::State::malformed : Varint::State::ok;
      return v;
    }
  }
  v.state = bytes.size() >= 4 ? Varint::State::malformed : Varint::State::incomplete;
  return v;
}

std::size_t varint_size(std::uint32_t value) {
  if (value < 128U) return 1;
  if (value < 16'384U) return 2;
  if (value < 2'097'152U) return 3;
  return 4;
}

Status Reader::u8(std::uint8_t& out) {
  if (remaining() < 1) return DecodeError::truncated;
  out = bytes_[pos_++];
  return std::nullopt;
}

Status Reader::u16(std::uint16_t& out) {
  if (remaining() < 2) return DecodeError::truncated;
  out = static_cast<std::uint16_t>((bytes_[pos_] << 8) | bytes_[pos_ + 1]);
  pos_ += 2;
  return std::nullopt;
}

Status Reader::u32(std::uint32_t& out) {
  if (remaining() < 4) return DecodeError::truncated;
  out = 0;
  for (std::size_t k = 0; k < 4; ++k) out = (out << 8) | bytes_[pos_ + k];
  pos_ += 4;
  return std::nullopt;
}

Status Reader::varint(std::uint32_t& out, DecodeError malformed_error) {
  const Varint v = parse_varint(bytes_.subspan(pos_));
  if (v.state == Varint::State::incomplete) return DecodeError::truncated;
  if (v.state == Varint::State::malformed) return malformed_error;
  out = v.value;
  pos_ += v.length;
  return std::nullopt;
}

Status Reader::binary(Bytes& out) {
  std::uint16_t length = 0;
  if (auto e = u16(length)) return e;
  if (remaining() < length) return DecodeError::truncated;
  const Span data = bytes_.subspan(pos_, length);
  out.assign(data.begin(), data.end());
  pos_ += length;
  return std::nullopt;
}

Status Reader::utf8(std::string& out) {
  std::uint16_t length = 0;
  if (auto e = u16(length)) return e;
  if (remaining() < length) return DecodeError::truncated;
  out.assign(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
  pos_ += length;
  if (!is_valid_utf8(out)) return DecodeError::invalid_utf8;
  return std::nullopt;
}

Status Reader::sub(std::size_t n, Reader& out) {
  if (remaining() < n) return DecodeError::truncated;
  out = Reader(bytes_.subspan(pos_, n));
  pos_ += n;
  return std::nullopt;
}

Span Reader::rest() {
  const Span r = bytes_.subspan(pos_);
  pos_ = bytes_.size();
  return r;
}

void Sink::u8(std::uint8_t v) {
  if (out_ != nullptr) out_->push_back(v);
  ++size_;
}

void Sink::u16(std::uint16_t v) {
  u8(static_cast<std::uint8_t>(v >> 8));
  u8(static_cast<std::uint8_t>(v & 0xFFU));
}

void Sink::u32(std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<std::uint8_t>((v >> shift) & 0xFFU));
}

void Sink::varint(std::uint32_t v) {
  assert(v <= kMaxVarint && "MQTT 5.0 §1.5.5: a variable byte integer holds 28 bits");
  do {
    auto octet = static_cast<std::uint8_t>(v % 128U);
    v /= 128U;
    if (v > 0) octet = static_cast<std::uint8_t>(octet | 0x80U);
    u8(octet);
  } while (v > 0);
}

void Sink::raw(Span bytes) {
  if (out_ != nullptr) out_->insert(out_->end(), bytes.begin(), bytes.end());
  size_ += bytes.size();
}

void Sink::binary(Span bytes) {
  assert(bytes.size() <= kMaxString && "MQTT 5.0 §1.5.6: binary data holds at most 65535 octets");
  u16(static_cast<std::uint16_t>(bytes.size()));
  raw(bytes);
}

void Sink::utf8(std::string_view text) {
  assert(text.size() <= kMaxString && "MQTT 5.0 §1.5.4: a string holds at most 65535 octets");
  assert(is_valid_utf8(text) && "MQTT 5.0 §1.5.4: strings are well-formed UTF-8 without U+0000");
  u16(static_cast<std::uint16_t>(text.size()));
  raw(Span(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

}  // namespace mqtt_codec::wire
