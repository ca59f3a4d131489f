#pragma once
// Digi XBee API frames (Zigbee firmware), sans-I/O: encode Transmit Request 0x10, decode Receive
// Packet 0x90 and Transmit Status 0x8B, and a streaming decoder that cuts API frames out of the
// serial byte stream. No clock, no fd; not thread-safe (one owner, the loop thread).
//
// Frame format (Digi "API frame format" and "Escaped characters in API frames", e.g. XBee 3
// Zigbee RF Module User Guide, and docs.digi.com .../90001506/reference/
// r_escaped_characters_in_frames.htm):
//   0x7E | Length MSB LSB | frame data (Length octets: API frame type, then its fields) | checksum
//   checksum = 0xFF - (8-bit sum of the frame data octets); a receiver adds the frame data and the
//   checksum and must get 0xFF.
//   api_mode 1 (AP=1): sent as is. api_mode 2 (AP=2): after the start delimiter, every 0x7E, 0x7D,
//   0x11 or 0x13 (Length and checksum included) is sent as 0x7D followed by the octet XOR 0x20;
//   Length counts and the checksum covers the unescaped octets.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

namespace transports::xbee {

enum class ApiMode : std::uint8_t { plain = 1, escaped = 2 };

inline constexpr std::uint8_t kStartDelimiter = 0x7E;
inline constexpr std::uint8_t kEscape = 0x7D;
inline constexpr std::uint8_t kXon = 0x11;
inline constexpr std::uint8_t kXoff = 0x13;
inline constexpr std::uint8_t kEscapeXor = 0x20;

inline constexpr std::uint8_t kTransmitRequest = 0x10;
inline constexpr std::uint8_t kTransmitStatus = 0x8B;
inline constexpr std::uint8_t kReceivePacket = 0x90;

// Transmit Request 0x10: "for broadcast transmissions, set the 64-bit destination address to
// 0x000000000000FFFF"; 0xFFFE is the 16-bit address to use when it is unknown (or broadcasting).
inline constexpr std::uint64_t kBroadcast64 = 0x000000000000FFFFULL;
inline constexpr std::uint16_t kUnknown16 = 0xFFFE;

// Transmit Request frame data before the RF data: type, frame id, 64-bit, 16-bit, radius, options.
inline constexpr std::size_t kTransmitRequestOverhead = 14;

// 0xFF minus the 8-bit sum of `frame_data`.
std::uint8_t checksum(std::span<const std::uint8_t> frame_data);

// Appends the API frame carrying `frame_data` (1..65535 octets; a caller bug otherwise) to `out`.
void encode_frame_to(std::span<const std::uint8_t> frame_data, ApiMode mode,
                     std::vector<std::uint8_t>& out);
std::vector<std::uint8_t> encode_frame(std::span<const std::uint8_t> frame_data, ApiMode mode);

// Transmit Request 0x10 (Digi XBee 3 Zigbee RF Module User Guide, "Transmit Request frame -
// 0x10"): offset 3 type 0x10, 4 frame id (0 = no Transmit Status), 5-12 64-bit destination MSB
// first, 13-14 16-bit destination, 15 broadcast radius (0 = NH), 16 transmit options, 17-n RF data.
struct TransmitRequest {
  std::uint8_t frame_id = 0;
  std::uint64_t destination64 = 0;
  std::uint16_t destination16 = kUnknown16;
  std::uint8_t broadcast_radius = 0;
  std::uint8_t options = 0;
  std::span<const std::uint8_t> rf_data;
};
std::vector<std::uint8_t> encode_transmit_request(const TransmitRequest& request, ApiMode mode);
void encode_transmit_request_to(const TransmitRequest& request, ApiMode mode,
                                std::vector<std::uint8_t>& out);

// Receive Packet 0x90 ("Receive Packet frame - 0x90"): offset 3 type 0x90, 4-11 64-bit source MSB
// first, 12-13 16-bit source network address, 14 receive options (0x01 acknowledged, 0x02
// broadcast, 0x20 APS encrypted, 0x40 from an end device), 15-n received RF data.
struct ReceivePacket {
  std::uint64_t source64 = 0;
  std::uint16_t source16 = 0;
  std::uint8_t options = 0;
  std::span<const std::uint8_t> rf_data;  // points into the frame data given to the parser
};
// `frame_data` is one decoded frame's data (type octet first); nullopt if it is not a 0x90 of
// at least 12 octets.
std::optional<ReceivePacket> parse_receive_packet(std::span<const std::uint8_t> frame_data);

// Transmit Status 0x8B ("Transmit Status frame - 0x8B"): offset 3 type 0x8B, 4 frame id, 5-6
// 16-bit destination address (0xFFFD when not delivered), 7 transmit retry count, 8 delivery
// status (0x00 success), 9 discovery status.
struct TransmitStatus {
  std::uint8_t frame_id = 0;
  std::uint16_t destination16 = 0;
  std::uint8_t retry_count = 0;
  std::uint8_t delivery_status = 0;
  std::uint8_t discovery_status = 0;

  bool delivered() const { return delivery_status == 0x00; }
  bool operator==(const TransmitStatus&) const = default;
};
// nullopt if `frame_data` is not a 0x8B of exactly 7 octets.
std::optional<TransmitStatus> parse_transmit_status(std::span<const std::uint8_t> frame_data);

// The 8 + 2 octets a sn::Peer of kind xbee carries (64-bit then 16-bit, MSB first).
std::array<std::uint8_t, 10> address_bytes(std::uint64_t address64, std::uint16_t address16);
// The reverse; false if `bytes` is not 10 octets long.
bool address_from_bytes(std::span<const std::uint8_t> bytes, std::uint64_t& address64,
                        std::uint16_t& address16);

struct DecoderCounters {
  std::uint64_t frames = 0;         // frames with a good checksum delivered
  std::uint64_t bad_frames = 0;     // bad checksum, Length 0 or too long, broken escape
  std::uint64_t bytes_skipped = 0;  // octets outside any frame, or dropped to resynchronise
};

// Streaming API frame decoder. Resynchronisation: octets before a 0x7E are skipped; a candidate
// frame that is invalid (Length 0 or above max_frame_data, bad checksum, and in api_mode 2 an
// unescaped 0x7E before its end or an escape of an octet that never needs one) counts one bad
// frame, and the search for the next 0x7E restarts at the octet after the candidate's 0x7E, so a
// real frame hidden inside a garbled one is still found.
class FrameDecoder {
 public:
  // Called once per good frame with its unescaped frame data (type octet first, checksum
  // removed); valid only during the call; the sink must not call back into this decoder.
  using FrameSink = std::function<void(std::span<const std::uint8_t> frame_data)>;

  explicit FrameDecoder(ApiMode mode, std::size_t max_frame_data = 512);

  void feed(std::span<const std::uint8_t> bytes, const FrameSink& on_frame);
  void reset() { buffer_.clear(); }  // forgets a partial frame; counters are kept

  ApiMode mode() const { return mode_; }
  std::size_t buffered() const { return buffer_.size(); }
  const DecoderCounters& counters() const { return counters_; }

 private:
  enum class Step : std::uint8_t { frame, bad, need_more };
  Step try_frame(std::size_t start, std::size_t& end);

  ApiMode mode_;
  std::size_t max_frame_data_;
  DecoderCounters counters_;
  std::vector<std::uint8_t> buffer_;      // raw (escaped) octets from the current candidate on
  std::vector<std::uint8_t> frame_data_;  // the unescaped frame data of the last frame
};

}  // namespace transports::xbee
