#pragma once
// MQTT-SN over Bluetooth on a libuv loop, through BlueZ kernel sockets (AF_BLUETOOTH): an RFCOMM
// listener (Classic, serial port profile) or an L2CAP LE connection-oriented channel listener
// (BLE). Framing only; no protocol decisions. Loop thread only: every method, and every callback
// is called on it.
//
// Every accepted connection is one client: sn::Peer{transport_id, PeerKind::bluetooth, remote
// BD_ADDR (6 octets as on air, least significant first) + channel or PSM (2 octets, MSB first)}.
// A second connection with the same peer value replaces the first (the older one is closed).
//  - rfcomm (SOCK_STREAM): a byte stream; frames are cut by StreamDeframer exactly as serial raw
//    framing (resynchronisation rule, max_frame_size; the inter-byte timeout is applied when the
//    next bytes arrive late: a stalled partial frame holds at most max_frame_size octets).
//  - l2cap (SOCK_SEQPACKET, BDADDR_LE_PUBLIC): one packet is one frame; a packet longer than
//    max_frame_size is dropped (counted).
// A connection that reads EOF or an error, hangs up, or whose output queue overflows is closed
// and reported through on_disconnected; the listener failing is reported through
// on_listener_lost and closes every connection.
//
// Writing: write(2) at once when nothing is queued; the rest is queued per connection (whole
// frames, bounded by max_queued_bytes) and flushed when the socket is writable.

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "sn_protocol/peer.hpp"
#include "transports/frame_handler.hpp"

namespace transports {

enum class BluetoothKind : std::uint8_t { rfcomm, l2cap };

struct BluetoothOptions {
  std::uint16_t transport_id = 0;  // stamped into every Peer
  BluetoothKind kind = BluetoothKind::rfcomm;
  std::uint16_t channel_or_psm = 1;  // RFCOMM channel 1..30, or LE PSM 0x01..0xFF
  // rfcomm: longest frame accepted (>= 256); l2cap: longest packet, also the receive MTU asked
  // for (BT_RCVMTU).
  std::size_t max_frame_size = 1024;
  std::chrono::milliseconds inter_byte_timeout{500};  // rfcomm; 0 disables
  std::size_t max_connections = 256;                  // further connections are refused
  std::size_t max_queued_bytes = std::size_t{64} * 1024;  // per connection
};

struct BluetoothCounters {
  std::uint64_t accepted = 0;
  std::uint64_t refused = 0;  // over max_connections
  std::uint64_t closed = 0;   // connections closed for any reason but close()
  std::uint64_t frames_received = 0;
  std::uint64_t frames_sent = 0;
  std::uint64_t bytes_skipped = 0;     // rfcomm resynchronisation
  std::uint64_t oversize_dropped = 0;  // l2cap packets above max_frame_size, or sends above it
  std::uint64_t send_errors = 0;       // every send() that returned false, plus queued output lost
};

struct BluetoothCallbacks {
  FrameHandler on_frame;
  std::function<void(const sn::Peer& peer)> on_connected;
  // The connection is closed (fd already closed); the client behind it is gone.
  std::function<void(const sn::Peer& peer, const std::string& reason)> on_disconnected;
  // The listening socket failed; every connection was closed (without on_disconnected).
  std::function<void(const std::string& reason)> on_listener_lost;
};

class BluetoothTransport {
 public:
  BluetoothTransport(uv_loop_t* loop, BluetoothOptions options, BluetoothCallbacks callbacks);
  BluetoothTransport(const BluetoothTransport&) = delete;
  BluetoothTransport& operator=(const BluetoothTransport&) = delete;
  // close() should have completed; if not, it is started and the handles are freed once the loop
  // runs, without calling back here.
  ~BluetoothTransport();

  // Opens the listening socket. Throws std::runtime_error: exactly "Bluetooth is not available
  // in this kernel (EAFNOSUPPORT)" when the kernel has no AF_BLUETOOTH, otherwise e.g.
  // "rfcomm channel 3: bind failed: Address already in use". Call at most once.
  void start();
  // Takes an already-connected socket (SOCK_STREAM for rfcomm, SOCK_SEQPACKET for l2cap; made
  // non-blocking here) as one connection to `peer`: what accepting does. Tests hand it one end of
  // a socketpair. Takes ownership of `fd` (closed on failure too); false after close().
  bool adopt(int fd, const sn::Peer& peer);
  // One frame to a connected peer; false (counted) when it is not connected, the frame is too
  // large, or its queue is full. Never blocks, never throws.
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes);
  // Closes one connection (no on_disconnected); false if there is none.
  bool disconnect(const sn::Peer& peer);
  // Stops listening and closes every connection; `on_closed` runs on the loop once every handle
  // is closed (at once if already closed).
  void close(std::function<void()> on_closed);

  std::size_t connection_count() const;
  const BluetoothOptions& options() const { return options_; }
  const BluetoothCounters& counters() const { return counters_; }
  // "rfcomm listening on channel 3" / "l2cap LE listening on psm 0x81".
  std::string description() const;

  // The peer value of a connection from `bdaddr` (6 octets, as on air).
  static sn::Peer make_peer(std::uint16_t transport_id, std::span<const std::uint8_t, 6> bdaddr,
                            std::uint16_t channel_or_psm);

 private:
  struct State;
  struct Connection;
  uv_loop_t* loop_;
  BluetoothOptions options_;
  BluetoothCallbacks callbacks_;
  BluetoothCounters counters_;
  State* state_ = nullptr;  // owns the uv handles; freed once the last one is closed
};

}  // namespace transports
