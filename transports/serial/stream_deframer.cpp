#include "transports/stream_deframer.hpp"

#include <array>
#include <cstddef>

#include "sn_protocol/codec.hpp"

namespace transports {
namespace {

constexpr std::uint8_t kThreeOctetMarker = 0x01;
// §5.2.1: the 3-octet form is for messages of 256 octets or more.
constexpr std::size_t kMinThreeOctetSize = 256;

// Smallest frames per §5.4 (1-octet Length form): fixed headers with empty variable parts.
// 0 marks a reserved MsgType.
constexpr std::array<std::uint8_t, 256> kMinFrameSize = [] {
  std::array<std::uint8_t, 256> sizes{};
  sizes[0x00] = 5;  // ADVERTISE: GwId, Duration
  sizes[0x01] = 3;  // SEARCHGW: Radius
  sizes[0x02] = 3;  // GWINFO: GwId (GwAdd only when a client answers)
  sizes[0x04] = 6;  // CONNECT: Flags, ProtocolId, Duration (+ ClientId)
  sizes[0x05] = 3;  // CONNACK: ReturnCode
  sizes[0x06] = 2;  // WILLTOPICREQ
  sizes[0x07] = 2;  // WILLTOPIC (empty: delete the will)
  sizes[0x08] = 2;  // WILLMSGREQ
  sizes[0x09] = 2;  // WILLMSG
  sizes[0x0A] = 6;  // REGISTER: TopicId, MsgId (+ TopicName)
  sizes[0x0B] = 7;  // REGACK: TopicId, MsgId, ReturnCode
  sizes[0x0C] = 7;  // PUBLISH: Flags, TopicId, MsgId (+ Data)
  sizes[0x0D] = 7;  // PUBACK: TopicId, MsgId, ReturnCode
  sizes[0x0E] = 4;  // PUBCOMP: MsgId
  sizes[0x0F] = 4;  // PUBREC: MsgId
  sizes[0x10] = 4;  // PUBREL: MsgId
  sizes[0x12] = 5;  // SUBSCRIBE: Flags, MsgId (+ TopicName or TopicId)
  sizes[0x13] = 8;  // SUBACK: Flags, TopicId, MsgId, ReturnCode
  sizes[0x14] = 5;  // UNSUBSCRIBE: Flags, MsgId (+ TopicName or TopicId)
  sizes[0x15] = 4;  // UNSUBACK: MsgId
  sizes[0x16] = 2;  // PINGREQ (+ ClientId)
  sizes[0x17] = 2;  // PINGRESP
  sizes[0x18] = 2;  // DISCONNECT (+ Duration)
  sizes[0x1A] = 2;  // WILLTOPICUPD
  sizes[0x1B] = 3;  // WILLTOPICRESP: ReturnCode
  sizes[0x1C] = 2;  // WILLMSGUPD
  sizes[0x1D] = 3;  // WILLMSGRESP: ReturnCode
  sizes[0xFE] = 4;  // §5.5 encapsulation header: Ctrl, Wireless Node Id of 1+ octets
  return sizes;
}();

}  // namespace

std::size_t min_frame_size(std::uint8_t type) { return kMinFrameSize[type]; }

StreamDeframer::StreamDeframer(StreamDeframerOptions options) : options_(options) {
  if (options_.max_frame_size < kMinThreeOctetSize) options_.max_frame_size = kMinThreeOctetSize;
}

bool StreamDeframer::expired(std::chrono::milliseconds now) const {
  return !buffer_.empty() && options_.inter_byte_timeout.count() > 0 &&
         now - last_byte_ > options_.inter_byte_timeout;
}

bool StreamDeframer::tick(std::chrono::milliseconds now) {
  if (!expired(now)) return false;
  buffer_.clear();
  ++counters_.timeouts;
  return true;
}

void StreamDeframer::feed(std::span<const std::uint8_t> bytes, std::chrono::milliseconds now,
                          const FrameSink& on_frame) {
  if (bytes.empty()) return;
  tick(now);
  last_byte_ = now;
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
  drain(on_frame);
}

void StreamDeframer::drain(const FrameSink& on_frame) {
  std::size_t start = 0;
  const auto skip = [&] {
    ++start;
    ++counters_.bytes_skipped;
  };
  while (start < buffer_.size()) {
    const std::span<const std::uint8_t> rest(buffer_.data() + start, buffer_.size() - start);
    if (rest[0] == 0x00) {  // Length 0
      skip();
      continue;
    }
    const bool three_octet = rest[0] == kThreeOctetMarker;
    const std::size_t header = three_octet ? 3 : 1;
    if (rest.size() < header) break;  // the 3-octet Length is not all here yet
    std::size_t declared = rest[0];
    if (three_octet) {
      declared = (static_cast<std::size_t>(rest[1]) << 8) | rest[2];
      if (declared < kMinThreeOctetSize) {
        skip();
        continue;
      }
    }
    if (rest.size() == header) break;  // the MsgType octet is not here yet
    const std::size_t type_min = min_frame_size(rest[header]);
    // The 3-octet form adds two octets to every minimum.
    if (type_min == 0 || declared < type_min + (header - 1)) {
      skip();
      continue;
    }
    const std::ptrdiff_t size = sn::frame_size_from_prefix(rest);
    if (size < 0 || static_cast<std::size_t>(size) > options_.max_frame_size) {
      skip();
      continue;
    }
    if (size == 0 || static_cast<std::size_t>(size) > rest.size()) break;  // wait for the rest

    const auto whole = static_cast<std::size_t>(size);
    ++counters_.frames;
    if (on_frame) on_frame(rest.first(whole));
    start += whole;
  }
  buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(start));
}

}  // namespace transports
