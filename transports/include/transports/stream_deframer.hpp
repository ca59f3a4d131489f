#pragma once
// Cuts whole MQTT-SN frames out of a byte stream (serial "raw" framing, RFCOMM), where nothing but
// each frame's own Length field (§5.2.1: 1 octet, or 0x01 + 16-bit length) marks where it ends.
// Sans-I/O: bytes and the time come in, frames go out through a callback; no clock, no fd.
// Not thread-safe: one owner (the loop thread in the transports).
//
// Resynchronisation rule (applied at the first buffered octet, repeated until a frame fits or
// more bytes are needed). The candidate's first octet is dropped and counted in bytes_skipped,
// and the next octet becomes the candidate, when:
//   - its Length is 0x00, or the 3-octet form declares fewer than 256 octets (§5.2.1 reserves it
//     for 256..65535, so a shorter one is not canonical and is taken for noise);
//   - the frame it declares is longer than max_frame_size (so a corrupt length never makes the
//     stream wait for bytes that will not come);
//   - its MsgType octet is not an MQTT-SN v1.2 message type (§5.2.2 Table 3), or the declared
//     Length is below the smallest well-formed message of that type (e.g. "02 0C" cannot be a
//     PUBLISH);
//   - it is a §5.5 encapsulation whose header or inner Length is invalid
//     (sn::frame_size_from_prefix returns -1).
// A candidate that passes is delivered once all its octets are there. Frames are not decoded:
// a frame that passes the header checks but is malformed inside is the decoder's business.
//
// Inter-byte timeout: bytes of an incomplete frame that are followed by silence longer than
// inter_byte_timeout are discarded (counted in timeouts; their octets are not in bytes_skipped),
// either when the next bytes arrive late (feed) or when the owner calls tick(). A garbled length
// that passed the checks above therefore costs at most one timeout, never a stalled line.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

namespace transports {

struct StreamDeframerOptions {
  // Longest frame accepted, Length field included. At least 256 to allow the 3-octet form.
  std::size_t max_frame_size = 1024;
  // Silence after which a partial frame is dropped; zero disables the timeout.
  std::chrono::milliseconds inter_byte_timeout{500};
};

struct StreamDeframerCounters {
  std::uint64_t frames = 0;         // whole frames delivered
  std::uint64_t bytes_skipped = 0;  // octets dropped by the resynchronisation rule
  std::uint64_t timeouts = 0;       // partial frames dropped by the inter-byte timeout
};

class StreamDeframer {
 public:
  // Called once per frame, Length field included; `frame` is valid only during the call, and the
  // sink must not call back into this deframer.
  using FrameSink = std::function<void(std::span<const std::uint8_t> frame)>;

  explicit StreamDeframer(StreamDeframerOptions options = {});

  // Appends bytes received at `now` (any split: one octet, several frames, a frame and a half)
  // and delivers every frame they complete, in stream order.
  void feed(std::span<const std::uint8_t> bytes, std::chrono::milliseconds now,
            const FrameSink& on_frame);
  // Applies the inter-byte timeout without new bytes; returns true if a partial frame was dropped.
  bool tick(std::chrono::milliseconds now);
  // True while octets of an incomplete frame are buffered.
  bool has_partial() const { return !buffer_.empty(); }
  // When that partial frame expires (meaningful only while has_partial() and the timeout is
  // enabled): the owner arms a timer for it and calls tick() then.
  std::chrono::milliseconds partial_deadline() const {
    return last_byte_ + options_.inter_byte_timeout;
  }
  // Forgets any partial frame (e.g. the device went away); counters are kept.
  void reset() { buffer_.clear(); }

  std::size_t buffered() const { return buffer_.size(); }
  const StreamDeframerOptions& options() const { return options_; }
  const StreamDeframerCounters& counters() const { return counters_; }

 private:
  bool expired(std::chrono::milliseconds now) const;
  void drain(const FrameSink& on_frame);

  StreamDeframerOptions options_;
  StreamDeframerCounters counters_;
  std::vector<std::uint8_t> buffer_;  // the unconsumed tail of the stream, a frame at most
  std::chrono::milliseconds last_byte_{0};
};

// The smallest well-formed message of MsgType `type` (Length field of 1 octet included), or 0
// if `type` is not an MQTT-SN v1.2 message type. Exposed for tests and other stream framers.
std::size_t min_frame_size(std::uint8_t type);

}  // namespace transports
