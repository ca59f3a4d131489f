#pragma once
// The server side of DTLS 1.2 to the nodes (issue 13 §2), sans-I/O: datagrams from peers in,
// datagrams to peers and decrypted frames (with the identity the handshake proved) out. No
// socket, no clock of its own: the owner (transports::DtlsTransport) feeds datagrams and time.
//
// - A source gets state only after its ClientHello carried a valid cookie (RFC 6347 §4.2.1,
//   DTLSv1_listen over one shared listener with an HMAC of the source address and port).
// - One session per source address and port. A new ClientHello (epoch 0) from the address of an
//   established session is a node that rebooted (RFC 6347 §4.2.8): once it proves the cookie, its
//   new session replaces the old one.
// - A datagram that is no DTLS record gets nothing and is counted; handshakes are bounded in
//   number and time; sessions silent for idle_timeout are forgotten.
// - Authentication by PSK (identity -> key) and/or certificates. The identity of a session is its
//   PSK identity, or for a certificate its subject CN (the first DNS SAN when there is no CN).

#include <openssl/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "dtls/datagram_bio.hpp"
#include "dtls/dtls_options.hpp"
#include "sn_protocol/peer.hpp"

namespace transports::dtls {

struct Delivery {
  sn::Peer from;
  std::string identity;  // what the handshake proved (empty: an anonymous certificate-less peer)
  Bytes frame;
};

struct Output {
  std::vector<std::pair<sn::Peer, Bytes>> datagrams;
  std::vector<Delivery> delivered;
  // Established sessions that ended (closed by the peer, expired, replaced by a new handshake
  // from their address): whoever spoke over them is gone.
  std::vector<sn::Peer> ended;
};

struct ServerCounters {
  std::uint64_t cookies_sent = 0;        // HelloVerifyRequests (no state kept)
  std::uint64_t plaintext_dropped = 0;   // datagrams that are no DTLS record
  std::uint64_t handshakes_done = 0;
  std::uint64_t handshakes_failed = 0;   // wrong key, unknown identity, bad certificate, timeout
  std::uint64_t handshakes_refused = 0;  // max_handshakes under way, or max_sessions reached
  std::uint64_t sessions_replaced = 0;   // a new handshake from an established session's address
  std::uint64_t sessions_expired = 0;    // silent for idle_timeout
  std::uint64_t sessions_closed = 0;     // close_notify or a fatal alert from the peer
  std::uint64_t records_dropped = 0;     // records of no session (e.g. after a gateway restart)
};

class Server {
 public:
  // Throws std::invalid_argument naming the file and OpenSSL's reason when a certificate or key
  // cannot be used, or when neither PSK nor a certificate is configured.
  explicit Server(ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void receive(const sn::Peer& from, std::span<const std::uint8_t> datagram, Time now,
               Output& out);
  // A frame to an established session; false when there is none for `to`.
  bool send(const sn::Peer& to, std::span<const std::uint8_t> frame, Output& out);
  // Handshake timeouts and retransmissions (OpenSSL's own timer), idle sessions.
  void on_timer(Time now, Output& out);

  std::size_t sessions() const { return links_.size() - handshaking_; }
  std::size_t handshaking() const { return handshaking_; }
  const ServerCounters& counters() const { return counters_; }

 private:
  struct Link;
  std::unique_ptr<Link> new_listener();
  // Runs the cookie exchange for a ClientHello from `from`; the new link when it is verified.
  std::unique_ptr<Link> listen(const sn::Peer& from, std::span<const std::uint8_t> datagram,
                               Output& out);
  void drive(const sn::Peer& from, Link& link, Time now, Output& out);
  void drain(const sn::Peer& to, Link& link, Output& out);
  // Drops the link of `peer`; an established one is reported in `out.ended`.
  void forget(const sn::Peer& peer, Output& out);

  ServerOptions options_;
  SSL_CTX* ctx_ = nullptr;
  std::unique_ptr<Link> listener_;
  std::unordered_map<sn::Peer, std::unique_ptr<Link>, sn::PeerHash> links_;
  std::size_t handshaking_ = 0;
  ServerCounters counters_;
  // Every SSL_read lands here (a DTLS record carries at most 2^14 octets): one buffer for the
  // server's life, not 16 KiB zeroed for every datagram.
  Bytes read_buffer_ = Bytes(16384);
};

}  // namespace transports::dtls
