#include "reason_codes.hpp"

#include <algorithm>
#include <initializer_list>

namespace mqtt_codec::reasons {
namespace {

bool one_of(std::uint8_t code, std::initializer_list<std::uint8_t> codes) {
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

bool allowed_v5(PacketType type, std::uint8_t code) {
  switch (type) {
    case PacketType::connack:  // §3.2.2.2 Table 3-1
      return one_of(code, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                           0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case PacketType::puback:  // §3.4.2.1 Table 3-4
    case PacketType::pubrec:  // §3.5.2.1 Table 3-5: the same codes
      return one_of(code, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case PacketType::pubrel:   // §3.6.2.1 Table 3-6
    case PacketType::pubcomp:  // §3.7.2.1 Table 3-7
      return one_of(code, {0x00, 0x92});
    case PacketType::suback:  // §3.9.3 Table 3-8
      return one_of(code, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case PacketType::unsuback:  // §3.11.3 Table 3-9
      return one_of(code, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case PacketType::disconnect:  // §3.14.2.1 Table 3-10
      return one_of(code, {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                           0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                           0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case PacketType::auth:  // §3.15.2.1 Table 3-11
      return one_of(code, {0x00, 0x18, 0x19});
    default: return false;
  }
}

bool allowed_v311(PacketType type, std::uint8_t code) {
  switch (type) {
    case PacketType::connack: return code <= 5;                 // §3.2.2.3 Table 3.1
    case PacketType::suback: return code <= 2 || code == 0x80;  // §3.9.3
    default: return code == 0;  // no reason code on the wire: only the default value
  }
}

}  // namespace

bool allowed(PacketType type, Version version, std::uint8_t code) {
  return version == Version::v5 ? allowed_v5(type, code) : allowed_v311(type, code);
}

}  // namespace mqtt_codec::reasons
