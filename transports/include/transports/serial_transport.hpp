#pragma once
// MQTT-SN over a serial line on a libuv loop: a tty opened in raw mode (termios) and driven by
// uv_poll_t. Framing only; no protocol decisions. Loop thread only: every method, and every
// callback is called on it.
//
// Framing:
//  - raw: MQTT-SN frames back to back, delimited by their own Length field (StreamDeframer, with
//    its resynchronisation rule and inter-byte timeout). The line is one peer:
//    sn::Peer{transport_id, PeerKind::serial, no address}. broadcast() writes to the line.
//  - xbee: a Digi XBee (Zigbee) radio in API mode 1 or 2 (xbee_api.hpp). Every Receive Packet
//    0x90 is a frame from the peer {transport_id, PeerKind::xbee, 64-bit + 16-bit source}; send()
//    wraps the frame in a Transmit Request 0x10 to that peer's addresses, broadcast() to
//    0x000000000000FFFF / 0xFFFE. Transmit Status 0x8B reports that did not deliver are counted
//    and passed to on_transmit_failed (nothing waits for them: other nodes are never blocked).
//    Frames longer than max_payload are refused by send() (counted): MQTT-SN v1.2 §6.10 and §7.4
//    leave it to the gateway to drop (and reject where that applies) what does not fit the radio.
//    Other API frames (modem status, AT responses...) are counted and ignored.
//
// Writing: write(2) straight away when nothing is queued; what the tty does not take at once is
// queued (whole frames only, bounded by max_queued_bytes; a frame that does not fit is dropped
// and counted) and flushed when the fd is writable.
//
// Device loss: a read returning 0 or an error other than EAGAIN (EIO when a USB adapter is
// unplugged or a PTY's other side goes away), a hang-up or a poll error closes the fd, drops
// queued output and any partial frame, calls on_device_lost() once, and retries opening the same
// path on a uv_timer with exponential backoff (reopen_initial, doubling up to reopen_max; no busy
// loop). When it opens and configures again, on_device_back() is called and reading resumes.
// send()/broadcast() return false while the device is away.

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "sn_protocol/peer.hpp"
#include "transports/frame_handler.hpp"
#include "transports/xbee_api.hpp"

namespace transports {

enum class Parity : std::uint8_t { none, even, odd };
enum class FlowControl : std::uint8_t { none, rtscts, xonxoff };
enum class SerialFraming : std::uint8_t { raw, xbee };

struct SerialOptions {
  std::uint16_t transport_id = 0;  // stamped into every Peer
  std::string device;              // e.g. "/dev/ttyUSB0", or a symlink to a PTY
  // One of 1200 2400 4800 9600 19200 38400 57600 115200 230400 460800 500000 576000 921600;
  // anything else makes start() throw naming the value.
  std::uint32_t baud = 115200;
  std::uint8_t data_bits = 8;  // 5..8
  Parity parity = Parity::none;
  std::uint8_t stop_bits = 1;  // 1 or 2
  // xonxoff makes the tty driver eat 0x11/0x13: use it only with xbee api_mode 2, which escapes
  // them (raw MQTT-SN frames contain them freely).
  FlowControl flow_control = FlowControl::none;
  SerialFraming framing = SerialFraming::raw;

  // raw framing (StreamDeframer)
  std::size_t max_frame_size = 1024;                  // longest frame accepted from the line
  std::chrono::milliseconds inter_byte_timeout{500};  // 0 disables

  // xbee framing
  xbee::ApiMode api_mode = xbee::ApiMode::plain;  // the radio's AP setting (1 or 2)
  std::size_t max_payload = 72;     // largest MQTT-SN frame sent in one 0x10 (the radio's NP)
  std::size_t max_api_frame = 512;  // longest API frame data accepted from the radio

  std::size_t max_queued_bytes = std::size_t{64} * 1024;  // output waiting for the tty
  std::chrono::milliseconds reopen_initial{100};
  std::chrono::milliseconds reopen_max{5000};
};

struct SerialCounters {
  std::uint64_t frames_received = 0;  // delivered to the frame handler
  std::uint64_t frames_sent = 0;      // handed to the tty (or queued for it) by send/broadcast
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_skipped = 0;       // raw: resynchronisation; xbee: octets outside good frames
  std::uint64_t timeouts = 0;            // raw: partial frames dropped by the inter-byte timeout
  std::uint64_t bad_api_frames = 0;      // xbee: bad checksum, bad length, broken escaping
  std::uint64_t ignored_api_frames = 0;  // xbee: well formed but neither 0x90 nor 0x8B
  std::uint64_t transmit_failures = 0;   // xbee: 0x8B with a delivery status other than 0x00
  std::uint64_t oversize_dropped = 0;    // send() of a frame above max_payload / max_frame_size
  std::uint64_t queue_full_dropped = 0;  // send() while the output queue was full
  std::uint64_t send_errors = 0;         // every send()/broadcast() that returned false, plus
                                         // queued output lost to a write error or device loss
  std::uint64_t device_lost = 0;
  std::uint64_t reopen_attempts = 0;  // failed and successful
  std::uint64_t reopened = 0;
};

struct SerialCallbacks {
  FrameHandler on_frame;
  // The device went away (the fd is already closed): every client behind it is lost.
  std::function<void()> on_device_lost;
  // The device is open and configured again.
  std::function<void()> on_device_back;
  // xbee: a Transmit Status reported a failed delivery. `to` is the peer the 0x10 with that frame
  // id went to (a default Peer if the id is unknown, e.g. after a wrap-around).
  std::function<void(const sn::Peer& to, const xbee::TransmitStatus& status)> on_transmit_failed;
};

class SerialTransport {
 public:
  // Initialises the libuv handles; from here on close() must run before destruction, whether or
  // not start() was called or succeeded.
  SerialTransport(uv_loop_t* loop, SerialOptions options, SerialCallbacks callbacks);
  SerialTransport(const SerialTransport&) = delete;
  SerialTransport& operator=(const SerialTransport&) = delete;
  // close() must have completed. If it has not, the destructor starts it and detaches: the
  // handles are freed once the loop runs, without calling back here.
  ~SerialTransport();

  // Opens and configures the device and starts reading. Throws std::runtime_error naming the
  // device on failure, e.g. "serial /dev/ttyUSB0: open failed: No such file or directory",
  // "serial /dev/ttyUSB0: unsupported baud rate 12345", "... is not a terminal". Call at most
  // once; later losses are retried, never thrown.
  void start();
  // Sends one MQTT-SN frame to `to` (raw: the line's serial peer; xbee: an xbee peer). Returns
  // false (and counts) when it cannot: wrong peer, device away, too large, queue full. Never
  // blocks, never throws.
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes);
  // Sends one frame to everyone on the medium (ADVERTISE, GWINFO): raw writes it to the line,
  // xbee sends it to the broadcast address. Same return value as send().
  bool broadcast(std::span<const std::uint8_t> bytes);
  // Stops reading, cancels the reopen timer, drops queued output (counted as send errors) and
  // closes the fd; `on_closed` runs on the loop once every handle is closed. No device callbacks
  // run after close(). If already closed, `on_closed` runs at once; if a close is in progress,
  // it runs after the earlier one.
  void close(std::function<void()> on_closed);

  // The peer that raw framing reports for the line (also what send() expects in raw framing).
  sn::Peer line_peer() const;
  bool device_open() const;  // false before start(), while the device is away, after close()
  std::size_t queued_bytes() const;
  const SerialOptions& options() const { return options_; }
  const SerialCounters& counters() const { return counters_; }

 private:
  struct Impl;  // owns the uv handles; freed once the last one is closed (STYLE §3)
  uv_loop_t* loop_;
  SerialOptions options_;
  SerialCallbacks callbacks_;
  SerialCounters counters_;
  Impl* impl_ = nullptr;  // null once the close completed
};

}  // namespace transports
