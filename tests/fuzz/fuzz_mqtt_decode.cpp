// libFuzzer target for the MQTT 3.1.1 / 5.0 codec (mqtt_codec).
//
// The first input octet picks the version the rest is read as (low bit 0: 3.1.1, 1: 5.0; CONNECT
// carries its own). Invariant, for ANY input bytes:
//   1. mqtt_codec::decode returns a packet or a DecodeError; it never crashes, throws, or reads
//      outside the input (ASan/UBSan in the fuzz preset watch the last part).
//   2. For every packet it accepts: encoded_size(p) == encode(p).size(), decode(encode(p)) == p,
//      and frame_size(input) == input size (a stream reader cuts the same packet decode accepted).
// Byte equality of encode(decode(x)) and x is not required: the short forms of the MQTT 5 acks
// and the order of properties leave room for more than one encoding of one packet.
// A violation aborts, which libFuzzer reports as a crash with the reproducer saved.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "mqtt_codec/codec.hpp"

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const auto version = (data[0] & 0x01U) != 0 ? mqtt_codec::Version::v5 : mqtt_codec::Version::v311;
  const std::span<const std::uint8_t> input(data + 1, size - 1);
  const auto decoded = mqtt_codec::decode(input, version);
  if (!decoded) return 0;

  const mqtt_codec::Bytes encoded = mqtt_codec::encode(*decoded, version);
  if (encoded.size() != mqtt_codec::encoded_size(*decoded, version)) {
    violated("encoded_size differs from encode()");
  }
  const auto again = mqtt_codec::decode(encoded, version);
  if (!again) violated("decode rejected what encode produced");
  if (!(*again == *decoded)) violated("decode(encode(p)) != p");
  const auto framed = mqtt_codec::frame_size(input);
  if (!framed || *framed != input.size()) violated("frame_size disagrees with decode");
  const auto reframed = mqtt_codec::frame_size(encoded);
  if (!reframed || *reframed != encoded.size()) violated("frame_size disagrees with encode");
  return 0;
}
