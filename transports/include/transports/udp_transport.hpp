#pragma once
// MQTT-SN over UDP (IPv4 and IPv6) on a libuv loop: one datagram is one frame. Framing only; no
// protocol decisions. Loop thread only: every method, and the frame handler is called on it.
//
// Addressing: the socket family follows `host`. A specific IPv6 host (e.g. "::1") is bound
// IPv6-only; the unspecified address "::" keeps the system default (Linux
// net.ipv6.bindv6only, 0 = dual-stack), so IPv4 clients then arrive as ipv6 Peers carrying
// v4-mapped addresses (::ffff:a.b.c.d) and are answered on the same socket. Peers built by this
// transport always have the socket's kind; send() refuses any other.
//
// Receiving: recvmmsg batches (libuv UV_UDP_RECVMMSG) into one buffer owned by the transport,
// reused for every batch. With recvmmsg libuv gives each datagram a 64 KiB slot, so every UDP
// datagram (at most 65507 octets over IPv4, 65527 over IPv6) is delivered whole; a datagram the
// kernel reports truncated (UV_UDP_PARTIAL) is dropped and counted, never delivered in part.

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>

#include "sn_protocol/peer.hpp"
#include "transports/frame_handler.hpp"

namespace transports {

struct UdpOptions {
  std::uint16_t transport_id = 0;              // stamped into every Peer
  std::string host = "0.0.0.0";                // IPv4 or IPv6 literal, or "localhost"
  std::uint16_t port = 1884;                   // 0: an ephemeral port (see local_port())
  int receive_buffer_bytes = 4 * 1024 * 1024;  // SO_RCVBUF asked for; 0 keeps the kernel default
  int send_buffer_bytes = 1024 * 1024;         // SO_SNDBUF asked for; 0 keeps the kernel default
  // Datagrams waiting in user space because the socket would block; beyond this send() drops
  // (returns false) instead of growing memory without bound.
  std::size_t max_queued_send_bytes = std::size_t{4} * 1024 * 1024;
  // Destination of broadcast() (ADVERTISE and GWINFO, MQTT-SN §6.1): a multicast group literal of
  // the socket's address family and a port. Empty: this transport cannot broadcast.
  std::string multicast_group;
  std::uint16_t multicast_port = 0;
  // Outgoing interface for the group: a local IPv4 address (IPv4 group) or an interface name
  // (IPv6 group). Empty: the route to the group decides.
  std::string multicast_interface;
  int multicast_ttl = 1;  // hops; our own host's listeners always hear it (IP_MULTICAST_LOOP)
};

struct UdpCounters {
  std::uint64_t datagrams_received = 0;
  std::uint64_t datagrams_sent = 0;
  std::uint64_t truncated_dropped = 0;  // larger than the receive buffer (UV_UDP_PARTIAL)
  std::uint64_t send_errors = 0;        // every send() that returned false or failed later
  std::uint64_t receive_errors = 0;     // socket errors reported while reading
};

class UdpTransport {
 public:
  // Initialises the libuv handle; from here on close() must run before destruction, whether or
  // not start() was called or succeeded.
  UdpTransport(uv_loop_t* loop, UdpOptions options, FrameHandler on_frame);
  UdpTransport(const UdpTransport&) = delete;
  UdpTransport& operator=(const UdpTransport&) = delete;
  // close() must have completed (the loop ran the close callback). If it has not, the destructor
  // starts it and detaches: the handle is freed once the loop runs, without calling back here.
  ~UdpTransport();

  // Binds and starts reading. Throws std::runtime_error with a message naming host:port and the
  // libuv error on failure, e.g. "udp 127.0.0.1:1884: bind failed: address already in use"
  // (start-up is an edge where exceptions are allowed). Call at most once.
  void start();
  // Queues one datagram to `to` (a Peer of kind ipv4/ipv6 built by this transport). Returns false
  // (and counts a send error) when it cannot be sent: not started or closed, a Peer of another
  // transport or family, or longer than UDP allows. Never blocks, never throws.
  // The datagrams of one loop iteration leave together in one sendmmsg(2) when the iteration
  // ends (before the loop blocks, and after the poll phase), or at once when 64 of them or
  // 256 KiB wait; in order, those to one peer never overtaking each other. What the kernel
  // refuses then (no route, ...) or what does not fit max_queued_send_bytes while the socket is
  // full is counted in send_errors.
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes);
  // One datagram to the multicast group of the options (same rules as send()). False when no
  // group is configured or the send fails.
  bool broadcast(std::span<const std::uint8_t> bytes);
  bool can_broadcast() const { return group_.has_value(); }
  // Stops reading and closes the socket; `on_closed` runs on the loop once the handle is closed
  // (queued sends are cancelled first and counted as send errors). If the transport is already
  // closed, `on_closed` runs at once; if a close is in progress, it runs after the earlier one.
  void close(std::function<void()> on_closed);

  std::uint16_t local_port() const;  // the bound port (0 before start() or after close)
  // Effective SO_RCVBUF / SO_SNDBUF as the kernel reports them (Linux doubles the request and
  // caps it at net.core.rmem_max / wmem_max); 0 before start().
  int receive_buffer_size() const;
  int send_buffer_size() const;
  bool using_recvmmsg() const;  // false before start() or when the kernel lacks recvmmsg
  const UdpCounters& counters() const { return counters_; }

 private:
  void set_up_multicast(const std::string& where);
  // Asks for `bytes` of socket buffer through libuv's accessor; when the kernel granted less (its
  // *mem_max cap), forces it with `force_option` where permitted. 0: leave the default.
  void set_buffer(int bytes, int force_option, int (*accessor)(uv_handle_t*, int*));

  struct Impl;  // owns the uv_udp_t; freed in its close callback (STYLE §3)
  uv_loop_t* loop_;
  UdpOptions options_;
  FrameHandler on_frame_;
  UdpCounters counters_;
  std::optional<sn::Peer> group_;  // the multicast destination, once start() set it up
  Impl* impl_ = nullptr;  // null once the close callback ran
};

}  // namespace transports
