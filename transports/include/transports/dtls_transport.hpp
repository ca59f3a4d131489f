#pragma once
// MQTT-SN over DTLS 1.2 on a libuv loop (issue 13 §2): a UdpTransport for the socket, the sans-I/O
// transports::dtls::Server for the records, a timer for handshake retransmission, handshake
// timeouts and idle sessions. Every decrypted record is one frame, delivered with the identity the
// handshake proved (PSK identity or certificate name). Loop thread only.
//
// A DTLS transport never broadcasts: ADVERTISE and GWINFO go out on plain UDP transports, and a
// SEARCHGW inside a session is answered inside it (GWINFO carries the gateway id only).

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>

#include "dtls/dtls_server.hpp"
#include "sn_protocol/peer.hpp"
#include "transports/udp_transport.hpp"

namespace transports {

// A frame with the identity its DTLS session proved; `bytes` and `identity` are valid only during
// the call.
using ProvenFrameHandler = std::function<void(const sn::Peer& from, std::span<const std::uint8_t> bytes,
                                              std::string_view identity)>;

struct DtlsOptions {
  UdpOptions udp;              // the socket (its multicast settings are not used)
  dtls::ServerOptions server;  // keys, certificates, limits
};

class DtlsTransport {
 public:
  // `on_session_ended`: an established session of `peer` ended (closed, expired, replaced).
  DtlsTransport(uv_loop_t* loop, DtlsOptions options, ProvenFrameHandler on_frame,
                std::function<void(const sn::Peer& peer)> on_session_ended);
  DtlsTransport(const DtlsTransport&) = delete;
  DtlsTransport& operator=(const DtlsTransport&) = delete;
  // As UdpTransport: close() should have completed; if not, the handles are freed by the loop.
  ~DtlsTransport();

  // Loads keys and certificates and binds. Throws std::runtime_error naming what failed.
  void start();
  // One frame to an established session; false (counted) when there is none.
  bool send(const sn::Peer& to, std::span<const std::uint8_t> bytes);
  void close(std::function<void()> on_closed);

  std::uint16_t local_port() const { return udp_.local_port(); }
  const UdpTransport& udp() const { return udp_; }
  // Null before start().
  const dtls::Server* server() const { return server_ ? &*server_ : nullptr; }
  std::uint64_t send_refused() const { return send_refused_; }

 private:
  void on_datagram(const sn::Peer& from, std::span<const std::uint8_t> datagram);
  void on_tick();
  void flush();  // sends what the server wrote and delivers what it decrypted
  void arm();    // the timer: fast while handshakes run, slow otherwise

  struct Timer;  // owns the uv_timer_t; freed in its close callback
  uv_loop_t* loop_;
  DtlsOptions options_;
  ProvenFrameHandler on_frame_;
  std::function<void(const sn::Peer&)> on_session_ended_;
  UdpTransport udp_;
  std::optional<dtls::Server> server_;
  dtls::Output out_;
  Timer* timer_ = nullptr;
  std::uint64_t tick_ms_ = 0;
  std::uint64_t send_refused_ = 0;
};

}  // namespace transports
