// libFuzzer target for the MQTT-SN codec.
//
// Invariant, for ANY input bytes:
//   1. sn::decode returns a packet or a DecodeError; it never crashes, throws, or reads outside the
//      input (ASan/UBSan in the fuzz preset watch the last part).
//   2. For every packet it accepts: decode(encode(p)) == p, encoded_size(p) == encode(p).size(), and
//      frame_size_from_prefix(input) == input.size() (stream framers cut the same frame decode
//      accepted).
// A violation aborts, which libFuzzer reports as a crash with the reproducer saved.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>

#include "sn_protocol/codec.hpp"

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const auto decoded = sn::decode(input);
  if (!decoded) return 0;

  const sn::Bytes encoded = sn::encode(*decoded);
  if (encoded.size() != sn::encoded_size(*decoded)) violated("encoded_size differs from encode()");
  const auto again = sn::decode(encoded);
  if (!again) violated("decode rejected what encode produced");
  if (!(*again == *decoded)) violated("decode(encode(p)) != p");
  if (sn::frame_size_from_prefix(input) != static_cast<std::ptrdiff_t>(size)) {
    violated("frame_size_from_prefix disagrees with decode");
  }
  return 0;
}
